// The storefront demo: what a shop's pages show for a signed-in customer,
// built only on the public REST API with the customer's own token. It is the
// integration example of docs/console.md.
import { get, post, getToken, setToken, clearToken, claims, newKey, useTokenKey } from "./api.js";
import { h, field, showErrors, clearErrors, formError, alertBox, notice, empty, value, checkRequired, fmtMoney, label, confirmDialog } from "./ui.js";

useTokenKey("affinity.storefront.token");
const main = document.getElementById("main");

function render() {
  main.replaceChildren();
  const c = claims();
  if (!getToken() || !c || !c.sub) { signIn(); return; }
  const customer = c.sub;
  const signOut = h("button", { type: "button", class: "link", onclick: () => { clearToken(); render(); } }, "Use another customer");
  main.append(h("h1", {}, "Welcome back, customer " + customer), signOut);
  const grid = h("div", { class: "grid" });
  main.append(grid);
  const points = h("section", { id: "points", "aria-labelledby": "points-h" }, h("h2", { id: "points-h" }, "Your points"));
  const product = h("section", { id: "product", "aria-labelledby": "product-h" }, h("h2", { id: "product-h" }, "Product page"));
  const cart = h("section", { id: "cart", "aria-labelledby": "cart-h" }, h("h2", { id: "cart-h" }, "Cart"));
  const checkout = h("section", { id: "checkout", "aria-labelledby": "checkout-h" }, h("h2", { id: "checkout-h" }, "Checkout: pay with points"));
  const referral = h("section", { id: "referral", "aria-labelledby": "referral-h" }, h("h2", { id: "referral-h" }, "Invite a friend"));
  grid.append(points, product, cart, checkout, referral);
  loadPoints(points, customer);
  productWidget(product, customer);
  cartWidget(cart, customer);
  checkoutWidget(checkout, customer, () => loadPoints(points, customer));
  referralWidget(referral, customer);
}

function signIn() {
  const form = h("form", { id: "login", novalidate: true },
    field("Customer token", "token", { multiline: true, rows: 4, autocomplete: "off", spellcheck: "false" }, "Local stack: paste CUSTOMER_TOKEN printed by `make run`."),
    formError(), h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = value(form, "token").replace(/^Bearer\s+/i, "");
    const c = claims(t);
    if (!c || !c.sub) { showErrors(form, { message: "that is not a customer's JWT", violations: [{ field: "token", description: "must be a JWT with a sub claim" }] }); return; }
    setToken(t); render();
  });
  main.append(h("h1", {}, "Storefront demo"), h("p", {}, "Sign in as a customer to see the loyalty and recommendation widgets a shop would show."), form);
}

async function loadPoints(box, customer) {
  box.replaceChildren(box.firstChild, h("p", {}, "Loading…"));
  const r = await get("/v1/loyalty/members/" + encodeURIComponent(customer));
  box.lastChild.remove();
  if (!r.ok) { box.append(r.status === 404 ? empty("You have no points yet: your first order earns some.") : alertBox(r.error)); return; }
  const m = r.data.member || {}, b = m.balance || {}, t = m.tier || {};
  box.append(...[h("p", { class: "big" }, h("span", { id: "sf-balance" }, Number(b.available || 0)), " points"),
    b.availableValue ? h("p", {}, "Worth " + fmtMoney(b.availableValue)) : null,
    Number(b.pending || 0) ? h("p", { id: "sf-pending" }, Number(b.pending) + " more points pending: they become available once the return period of your orders has passed.") : null,
    Number(b.held || 0) ? h("p", {}, Number(b.held) + " points held for a checkout") : null,
    h("p", {}, h("span", { id: "sf-lifetime" }, Number(m.lifetimePoints || 0)), " points earned since you joined"),
    h("p", { id: "sf-tier" }, "Tier: " + (t.tierName || "—")),
    t.nextTierName ? h("div", {},
      h("label", { for: "tier-progress" }, Number(t.pointsToNextTier || 0) + " points to " + t.nextTierName),
      h("progress", { id: "tier-progress", max: String(Number(t.qualifyingPoints || 0) + Number(t.pointsToNextTier || 0)), value: String(Number(t.qualifyingPoints || 0)) })) : null].filter(Boolean));
}

function recoList(res, emptyText) {
  if (!res.ok) return alertBox(res.error);
  const items = res.data.items || [];
  if (!items.length) return empty(emptyText);
  return h("ul", { class: "reco" }, items.map((it) => h("li", { "data-product": it.productId },
    h("strong", {}, (it.product && it.product.title) || it.productId),
    it.product && it.product.price ? " · " + fmtMoney(it.product.price) : "",
    h("br"), h("small", {}, (it.reason && (it.reason.text || label(it.reason.kind, "REASON_KIND_"))) || ""))));
}

function recoQuery(customer, products, strategy, placement) {
  const q = new URLSearchParams({ customerId: customer, strategy, placement, limit: "4" });
  for (const p of products) q.append("productIds", p);
  return get("/v1/recommendations?" + q);
}

function productWidget(box, customer) {
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, id: "product-form" }, field("Product id", "productId", { field: "product_ids" }), formError(), h("button", { type: "submit" }, "Open product"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["productId"]);
    if (vs.length) { showErrors(form, { message: "enter a product id", violations: vs }); return; }
    clearErrors(form);
    const p = [value(form, "productId")];
    const [together, upgrade] = await Promise.all([
      recoQuery(customer, p, "STRATEGY_CROSS_SELL", "PLACEMENT_PRODUCT_PAGE"),
      recoQuery(customer, p, "STRATEGY_UPSELL", "PLACEMENT_PRODUCT_PAGE")]);
    out.replaceChildren(h("h3", {}, "Frequently bought together"), recoList(together, "Nothing bought together with this product yet."),
      h("h3", {}, "Upgrade to"), recoList(upgrade, "No better product in this category."));
  });
  box.append(form, out);
}

function cartWidget(box, customer) {
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, id: "cart-form" }, field("Product ids in the cart (comma-separated)", "cart", { field: "product_ids" }), formError(), h("button", { type: "submit" }, "Show cart suggestions"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ids = value(form, "cart").split(",").map((s) => s.trim()).filter(Boolean);
    if (!ids.length) { showErrors(form, { message: "add a product to the cart", violations: [{ field: "product_ids", description: "is required" }] }); return; }
    clearErrors(form);
    const r = await recoQuery(customer, ids, "STRATEGY_CROSS_SELL", "PLACEMENT_CART");
    out.replaceChildren(h("h3", {}, "You may also like"), recoList(r, "No suggestions for this cart yet."));
  });
  box.append(form, out);
}

function checkoutWidget(box, customer, refresh) {
  const out = h("div", { "aria-live": "polite", id: "hold" });
  const form = h("form", { novalidate: true, id: "redeem-form" },
    field("Points to use", "points", { type: "number", min: "1", step: "1", field: "points" }),
    field("Order id", "orderId", { field: "order_id", value: "demo-" + Date.now() }),
    formError(), h("button", { type: "submit" }, "Hold points for this order"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["points", "orderId"]);
    const p = Number(value(form, "points"));
    if (value(form, "points") && !(Number.isInteger(p) && p > 0)) vs.push({ field: "points", description: "must be a whole number above 0" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const orderId = value(form, "orderId");
    const r = await post("/v1/loyalty/members/" + encodeURIComponent(customer) + "/holds", { idempotencyKey: newKey(), points: String(p), orderId, ttl: "900s" });
    if (!r.ok) { showErrors(form, r.error); return; }
    const hold = r.data.hold || {};
    refresh();
    const capture = h("button", { type: "button", id: "capture" }, "Place order (spend " + p + " points)");
    const release = h("button", { type: "button", class: "secondary", id: "release" }, "Cancel");
    out.replaceChildren(notice(p + " points are held for order " + orderId + (hold.value ? " (" + fmtMoney(hold.value) + " off)" : "") + ". They are spent when the order is placed."), h("div", { class: "buttons" }, release, capture));
    const close = async (verb) => {
      if (verb === "capture" && !await confirmDialog("Spend " + p + " points on order " + orderId + "? This cannot be undone.", "Place order")) return;
      const body = { idempotencyKey: newKey(), customerId: customer };
      if (verb === "capture") body.orderId = orderId;
      const c = await post("/v1/loyalty/holds/" + encodeURIComponent(hold.holdId) + ":" + verb, body);
      if (!c.ok) { out.append(alertBox(c.error)); return; }
      out.replaceChildren(notice(verb === "capture" ? "Order placed: " + p + " points spent." : "Hold released; your points are back."));
      refresh();
    };
    capture.addEventListener("click", () => close("capture"));
    release.addEventListener("click", () => close("release"));
  });
  box.append(form, out);
}

function referralWidget(box, customer) {
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, id: "code-form" }, field("Campaign id", "campaignId", { field: "campaign_id" }, "The shop knows its active campaign's id."), formError(), h("button", { type: "submit" }, "Get my referral code"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["campaignId"]);
    if (vs.length) { showErrors(form, { message: "enter the campaign id", violations: vs }); return; }
    clearErrors(form);
    const r = await post("/v1/referral/campaigns/" + encodeURIComponent(value(form, "campaignId")) + "/codes", { idempotencyKey: "code-" + customer + "-" + value(form, "campaignId"), customerId: customer });
    if (!r.ok) { showErrors(form, r.error); return; }
    const code = r.data.code || {};
    out.replaceChildren(h("p", {}, "Your code: ", h("strong", { id: "sf-code" }, code.code || "")), h("p", {}, code.shareUrl ? ["Share: ", h("code", {}, code.shareUrl)] : "Share the code with your friends."));
  });
  box.append(form, out);
}

render();
