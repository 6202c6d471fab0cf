// The marketer console: a hash-routed single page over the public REST API.
import { get, post, call, getToken, setToken, clearToken, claims, newKey } from "./api.js";
import { h, field, showErrors, clearErrors, formError, alertBox, notice, empty, value, checkRequired, fmtMoney, fmtTime, label, describe, confirmDialog } from "./ui.js";

import { overviewPage } from "./overview.js";
import { oidcConfig, finishSignIn, oidcButton } from "./oidc.js";
import { programPage } from "./program.js";
import { rejectedReferrals, segmentSizes, templateGallery, rfmPage, merchandisingPage, experimentsPage } from "./extras.js";

const main = document.getElementById("main");
const withMain = (f) => () => f(main, heading);
const pages = {
  overview: withMain(overviewPage), referral: referralPage, segments: segmentsPage, rfm: withMain(rfmPage), loyalty: loyaltyPage, program: withMain(programPage),
  recommendations: recommendationsPage, merchandising: withMain(merchandisingPage), experiments: withMain(experimentsPage),
};

function route() {
  const name = (location.hash.replace(/^#\/?/, "").split(/[?/]/)[0]) || "overview";
  const signedIn = !!getToken();
  document.getElementById("signout").hidden = !signedIn;
  const c = claims();
  document.getElementById("who").textContent = signedIn ? "Signed in as " + ((c && c.sub) || "unknown") + (c && c.roles ? " (" + [].concat(c.roles).join(", ") + ")" : "") : "";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  if (!signedIn) { loginPage(); return; }
  (pages[name] || notFoundPage)();
  main.focus();
}

function heading(text) {
  document.title = text + " · Affinity console";
  return h("h1", {}, text);
}

let signInError = "";

async function loginPage() {
  const form = h("form", { id: "login", novalidate: true },
    field("Bearer token", "token", { multiline: true, rows: 4, autocomplete: "off", spellcheck: "false" },
      "Local stack: paste MARKETER_TOKEN printed by `make run`. Production: a token from your OIDC provider (see docs/console.md)."),
    formError(),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = value(form, "token").replace(/^Bearer\s+/i, "");
    if (!claims(t)) {
      showErrors(form, { code: 3, message: "that is not a JWT (three base64url parts separated by dots)", violations: [{ field: "token", description: "must be a JWT" }] });
      return;
    }
    setToken(t);
    route();
  });
  main.append(heading("Sign in"), h("p", {}, "The console calls the platform's API with your token; it is kept only in this browser tab."));
  if (signInError) main.append(h("div", { class: "form-error", role: "alert", id: "signin-error" }, signInError));
  const cfg = await oidcConfig();
  if (cfg && cfg.error) main.append(h("div", { class: "form-error", role: "alert" }, cfg.error));
  else if (cfg) main.append(oidcButton(cfg));
  main.append(form);
}

function notFoundPage() {
  main.append(heading("Not found"), h("p", {}, "Pick a section above."));
}

// ---------------------------------------------------------------- referral

const TEMPLATE = {
  name: "Give 10, get 10",
  description: "Your friend gets 10.00 off their first order, you get 10.00 when they buy.",
};

function rewardSpec(kind, amount, currency, pool) {
  if (kind === "REWARD_KIND_POINTS") return { kind, points: String(Math.round(amount)) };
  return { kind, discount: { amountMinor: String(Math.round(amount * 100)), currency }, couponPool: pool };
}

function describeReward(r) {
  if (!r) return "—";
  if (r.kind === "REWARD_KIND_POINTS") return (r.points || 0) + " points";
  if (r.kind === "REWARD_KIND_PERCENT_DISCOUNT") return ((r.percentOffBps || 0) / 100) + "% off";
  return fmtMoney(r.discount) + " off";
}

async function referralPage() {
  const list = h("section", { "aria-labelledby": "campaigns-h" }, h("h2", { id: "campaigns-h" }, "Campaigns"), h("p", {}, "Loading…"));
  const stats = h("section", { id: "stats", "aria-live": "polite" });
  const kinds = [["REWARD_KIND_FIXED_DISCOUNT", "Fixed discount"], ["REWARD_KIND_POINTS", "Points"]];
  const form = h("form", { id: "new-campaign", novalidate: true },
    h("h2", {}, "New campaign from the “Give 10, get 10” template"),
    field("Name", "name", { value: TEMPLATE.name, field: "campaign.name", required: true, maxlength: 200 }),
    field("Description", "description", { value: TEMPLATE.description, field: "campaign.description" }),
    h("fieldset", {}, h("legend", {}, "Friend's reward"),
      field("Kind", "friendKind", { options: kinds, value: "REWARD_KIND_FIXED_DISCOUNT", field: "campaign.friend_reward" }),
      field("Amount (currency units or points)", "friendAmount", { type: "number", min: "0", step: "0.01", value: "10", field: "campaign.friend_reward.discount" }),
      field("Coupon pool (discounts)", "friendPool", { value: "referral-friend-10", field: "campaign.friend_reward.coupon_pool" }, "Coupon codes are handed out from this pool.")),
    h("fieldset", {}, h("legend", {}, "Referrer's reward"),
      field("Kind", "referrerKind", { options: kinds, value: "REWARD_KIND_FIXED_DISCOUNT", field: "campaign.referrer_reward" }),
      field("Amount (currency units or points)", "referrerAmount", { type: "number", min: "0", step: "0.01", value: "10", field: "campaign.referrer_reward.discount" }),
      field("Coupon pool (discounts)", "referrerPool", { value: "referral-referrer-10", field: "campaign.referrer_reward.coupon_pool" })),
    field("Currency", "currency", { value: "GBP", maxlength: 3, field: "campaign.currency" }, "ISO 4217, e.g. GBP"),
    field("Minimum first order", "minOrder", { type: "number", min: "0", step: "0.01", value: "20", field: "campaign.conditions.min_order_value" }),
    field("Attribution window (days)", "window", { type: "number", min: "0", max: "365", value: "30", field: "campaign.conditions.attribution_window_days" }),
    formError(),
    h("button", { type: "submit" }, "Create campaign (draft)"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["name", "friendAmount", "referrerAmount", "currency"]);
    const cur = value(form, "currency").toUpperCase();
    for (const side of ["friend", "referrer"]) {
      if (value(form, side + "Kind") !== "REWARD_KIND_POINTS" && !value(form, side + "Pool")) vs.push({ field: "campaign." + side + "_reward.coupon_pool", description: "is required for a discount reward" });
    }
    if (cur && !/^[A-Z]{3}$/.test(cur)) vs.push({ field: "campaign.currency", description: "must be three letters, e.g. GBP" });
    for (const n of ["friendAmount", "referrerAmount", "minOrder"]) {
      const v = value(form, n);
      if (v && !(Number(v) >= 0)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "must be a number of at least 0" });
    }
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const campaign = {
      name: value(form, "name"),
      description: value(form, "description"),
      friendReward: rewardSpec(value(form, "friendKind"), Number(value(form, "friendAmount")), cur, value(form, "friendPool")),
      referrerReward: rewardSpec(value(form, "referrerKind"), Number(value(form, "referrerAmount")), cur, value(form, "referrerPool")),
      conditions: { attributionWindowDays: Number(value(form, "window") || 0), firstOrderOnly: true },
    };
    if (value(form, "minOrder")) campaign.conditions.minOrderValue = { amountMinor: String(Math.round(Number(value(form, "minOrder")) * 100)), currency: cur };
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true; btn.textContent = "Creating…";
    const res = await post("/v1/referral/campaigns", { idempotencyKey: newKey(), campaign });
    btn.disabled = false; btn.textContent = "Create campaign (draft)";
    if (!res.ok) { showErrors(form, res.error); return; }
    form.querySelector(".form-error").hidden = true;
    await loadCampaigns(list, stats, res.data.campaign && res.data.campaign.name);
  });
  main.append(heading("Referral"), list, stats, form);
  await loadCampaigns(list, stats);
}

async function loadCampaigns(list, stats, created) {
  const res = await get("/v1/referral/campaigns?pageSize=50");
  const h2 = list.querySelector("h2");
  list.replaceChildren(h2);
  if (created) list.append(notice("Created “" + created + "” as a draft. Activate it when you are ready."));
  if (!res.ok) { list.append(alertBox(res.error)); return; }
  const cs = res.data.campaigns || [];
  if (!cs.length) { list.append(empty("No campaigns yet. Create one from the “Give 10, get 10” template below, then activate it.")); return; }
  const rows = cs.map((c) => {
    const actions = h("td", {});
    const st = c.status || "CAMPAIGN_STATUS_DRAFT";
    const act = async (verb) => {
      if (verb === "pause" && !await confirmDialog("Pause “" + c.name + "”? New referrals stop being rewarded until you activate it again.")) return;
      const r = await post("/v1/referral/campaigns/" + encodeURIComponent(c.campaignId) + ":" + verb, { idempotencyKey: newKey() });
      if (!r.ok) { list.append(alertBox(r.error)); return; }
      await loadCampaigns(list, stats);
    };
    if (st === "CAMPAIGN_STATUS_DRAFT" || st === "CAMPAIGN_STATUS_PAUSED") actions.append(h("button", { type: "button", onclick: () => act("activate"), "aria-label": "Activate " + c.name }, "Activate"));
    if (st === "CAMPAIGN_STATUS_ACTIVE") actions.append(h("button", { type: "button", class: "secondary", onclick: () => act("pause"), "aria-label": "Pause " + c.name }, "Pause"));
    actions.append(h("button", { type: "button", class: "secondary", onclick: () => showStats(stats, c), "aria-label": "Funnel of " + c.name }, "Funnel"));
    return h("tr", { "data-campaign": c.campaignId },
      h("td", {}, c.name), h("td", { class: "status" }, label(st, "CAMPAIGN_STATUS_")),
      h("td", {}, describeReward(c.friendReward)), h("td", {}, describeReward(c.referrerReward)), actions);
  });
  list.append(h("table", {}, h("caption", { class: "sr-only" }, "Referral campaigns"),
    h("thead", {}, h("tr", {}, ["Name", "Status", "Friend gets", "Referrer gets", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
}

async function showStats(box, c) {
  box.replaceChildren(h("h2", {}, "Funnel: " + c.name), h("p", {}, "Loading…"));
  const res = await get("/v1/referral/campaigns/" + encodeURIComponent(c.campaignId) + "/stats");
  box.lastChild.remove();
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const s = res.data.stats || {};
  const steps = [["Clicks", s.clicks], ["Sign-ups", s.signups], ["Conversions", s.conversions], ["Rewards paid", s.rewardsPaid], ["Rejected", s.rejections]];
  const max = Math.max(1, ...steps.map(([, v]) => Number(v || 0)));
  box.append(h("dl", { class: "funnel" }, steps.map(([k, v]) => [h("dt", {}, k), h("dd", {}, h("progress", { max: String(max), value: String(Number(v || 0)), "aria-label": k }), " " + Number(v || 0))])),
    h("p", {}, "Conversion rate " + ((s.conversionRate || 0) * 100).toFixed(1) + "% · revenue " + fmtMoney(s.revenue) + " · points cost " + (s.pointsCost || 0)));
  if (!Number(s.clicks || 0)) box.append(empty("No clicks yet: customers get a code with POST /v1/referral/campaigns/{id}/codes and share its link."));
  const top = s.topReferrers || [];
  if (top.length) box.append(h("h3", {}, "Top referrers"), h("ol", {}, top.map((t) => h("li", {}, (t.customerId || "?") + ": " + (t.conversions || 0) + " conversions"))));
  else box.append(h("h3", {}, "Top referrers"), empty("No conversions yet, so no top referrers."));
  await rejectedReferrals(box, c);
  box.dataset.loaded = "true";
}

// ---------------------------------------------------------------- segments

// SEGMENT_TEMPLATES are ready-made segments of the segmentation service
// (services/segmentation/internal/domain/segment/templates.go), used until
// the service's own list (GET /v1/segment-templates) has loaded.
const SEGMENT_TEMPLATES = [
  { name: "Frequent buyers", rule: "orders.count(days(90)) >= 3" },
  { name: "Champions", rule: 'in_rfm_group("Champions")' },
  { name: "Win-back: lapsed high-value customers", rule: 'lifecycle == "lapsed" && total_spend >= 50000 && order_count >= 2' },
  { name: "At risk", rule: 'in_rfm_group("At Risk") || in_rfm_group("Can\'t Lose Them") || (lifecycle == "at_risk" && order_count >= 2)' },
  { name: "New customers", rule: 'lifecycle == "new"' },
];

// positioned replaces the text of rule errors that markRule shows with their
// position, so the input's own error line points at them.
function positioned(violations) {
  return violations.map((v) => {
    if (!/(^|\.)rule$/.test(v.field)) return v;
    const m = /^(\d+):(\d+):/.exec(v.description);
    return { field: "segment.rule", description: m ? "Error at line " + m[1] + ", column " + m[2] + " (below)." : v.description };
  });
}

// markRule shows each "line:column: message" violation under the rule with a
// caret at its position.
function markRule(box, rule, violations) {
  box.replaceChildren();
  const lines = rule.split("\n");
  for (const v of violations) {
    const m = /^(\d+):(\d+):\s*(.*)$/s.exec(v.description);
    if (!m) { box.append(h("p", { class: "rule-issue" }, v.description)); continue; }
    const ln = Number(m[1]), col = Number(m[2]);
    const src = lines[ln - 1] || "";
    box.append(h("div", { class: "rule-issue", "data-line": ln, "data-column": col },
      h("div", {}, "Line " + ln + ", column " + col + ": " + m[3]),
      h("pre", { "aria-hidden": "true" }, src + "\n" + " ".repeat(Math.max(0, col - 1)) + "^")));
  }
}

async function segmentsPage() {
  const list = h("section", { "aria-labelledby": "segments-h" }, h("h2", { id: "segments-h" }, "Saved segments"), h("p", {}, "Loading…"));
  const preview = h("section", { id: "preview", "aria-live": "polite" });
  const issues = h("div", { id: "rule-issues", "aria-live": "polite" });
  const form = h("form", { id: "segment", novalidate: true },
    h("h2", {}, "New segment"),
    field("Name", "name", { field: "segment.name", required: true, maxlength: 200 }),
    field("Description", "description", { field: "segment.description" }),
    field("Start from a template", "template", { options: SEGMENT_TEMPLATES.map((t, i) => [String(i), t.name]), field: "template" }),
    field("Rule", "rule", { multiline: true, rows: 5, field: "segment.rule", spellcheck: "false", value: SEGMENT_TEMPLATES[0].rule },
      "A CEL expression over the customer profile; see docs/segmentation.md."),
    issues,
    formError(),
    h("div", { class: "buttons" },
      h("button", { type: "button", id: "preview-btn", class: "secondary" }, "Preview"),
      h("button", { type: "submit" }, "Save segment")));
  let templates = SEGMENT_TEMPLATES;
  form.elements.namedItem("template").addEventListener("change", (e) => {
    const t = templates[Number(e.target.value)];
    form.elements.namedItem("rule").value = t.rule;
    if (!value(form, "name")) form.elements.namedItem("name").value = t.name;
  });
  const ruleViolations = (err) => (err.violations || []).filter((v) => /(^|\.)rule$/.test(v.field));
  const doPreview = async () => {
    clearErrors(form); issues.replaceChildren();
    const rule = value(form, "rule");
    if (!rule) { showErrors(form, { message: "write a rule first", violations: [{ field: "segment.rule", description: "is required" }] }); return; }
    preview.replaceChildren(h("p", {}, "Previewing…"));
    const res = await post("/v1/segments:preview", { rule, sampleSize: 10 });
    preview.replaceChildren();
    if (!res.ok) {
      markRule(issues, rule, ruleViolations(res.error));
      showErrors(form, { ...res.error, violations: positioned(res.error.violations) });
      return;
    }
    const d = res.data;
    const sample = d.sampleCustomerIds || [];
    preview.append(h("h2", {}, "Preview"),
      h("p", { id: "preview-size" }, Number(d.size || 0) + " of " + Number(d.population || 0) + " customers match."),
      sample.length ? h("ul", { class: "sample" }, sample.map((id) => h("li", {}, id))) : empty("No customer matches yet. Loosen the rule, or import orders (make import) so profiles exist."));
  };
  form.querySelector("#preview-btn").addEventListener("click", doPreview);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    issues.replaceChildren();
    const vs = checkRequired(form, ["name", "rule"]);
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    const rule = value(form, "rule");
    const res = await post("/v1/segments", { idempotencyKey: newKey(), segment: { name: value(form, "name"), description: value(form, "description"), rule } });
    if (!res.ok) { markRule(issues, rule, ruleViolations(res.error)); showErrors(form, { ...res.error, violations: positioned(res.error.violations) }); return; }
    clearErrors(form);
    await loadSegments(list, res.data.segment && res.data.segment.name);
  });
  const gallery = h("section", { id: "templates", "aria-labelledby": "templates-h" });
  const sizes = h("section", { id: "sizes", "aria-live": "polite" });
  main.append(heading("Segments"), form, preview, list, sizes, gallery);
  const [, served] = await Promise.all([loadSegments(list, undefined, sizes), templateGallery(gallery, (name) => loadSegments(list, name, sizes))]);
  if (served && served.length) {
    templates = served;
    form.elements.namedItem("template").replaceChildren(...served.map((t, i) => h("option", { value: String(i) }, t.name)));
  }
}

async function loadSegments(list, saved, sizes) {
  const res = await get("/v1/segments?pageSize=100");
  list.replaceChildren(list.querySelector("h2") || h("h2", {}, "Saved segments"));
  if (saved) list.append(notice("Saved “" + saved + "”. Its members are computed in the background."));
  if (!res.ok) { list.append(alertBox(res.error)); return; }
  const ss = res.data.segments || [];
  if (!ss.length) { list.append(empty("No segments yet. Write a rule above, preview it, then save it.")); return; }
  list.append(h("table", {}, h("caption", { class: "sr-only" }, "Saved segments"),
    h("thead", {}, h("tr", {}, ["Name", "Rule", "Size", "Evaluated", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ss.map((s) => h("tr", { "data-segment": s.segmentId }, h("td", {}, s.name), h("td", {}, h("code", {}, s.rule)), h("td", {}, Number(s.size || 0)), h("td", {}, fmtTime(s.evaluatedAt)),
      h("td", {}, sizes ? h("button", { type: "button", class: "secondary", "aria-label": "Size over time of " + s.name, onclick: () => segmentSizes(sizes, s) }, "Size over time") : null))))));
}

// ---------------------------------------------------------------- loyalty

async function loyaltyPage() {
  const out = h("section", { id: "member", "aria-live": "polite" });
  const lookup = h("form", { id: "lookup", novalidate: true, role: "search" },
    field("Customer id", "customerId", { field: "customer_id", required: true, autocomplete: "off" }),
    formError(),
    h("button", { type: "submit" }, "Look up"));
  lookup.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(lookup, ["customerId"]);
    if (vs.length) { showErrors(lookup, { message: "enter a customer id", violations: vs }); return; }
    clearErrors(lookup);
    await showMember(out, value(lookup, "customerId"), lookup);
  });
  const program = h("section", { id: "program", "aria-labelledby": "program-h" }, h("h2", { id: "program-h" }, "Program"), h("p", {}, "Loading…"));
  main.append(heading("Loyalty"), h("p", {}, "Look up a member below. To change the earning rate, tiers, earning rules or rewards, open ", h("a", { href: "#/program/settings" }, "the program"), "."), lookup, out, program);
  out.append(empty("Enter a customer id to see their balance, tier and history, and to adjust their points."));
  await loadProgram(program);
}

// loadProgram shows the program's configuration read-only: tiers, earning
// rules and the rewards catalog.
async function loadProgram(box) {
  const [tiers, rules, rewards] = await Promise.all([get("/v1/loyalty/tiers"), get("/v1/loyalty/earning-rules?pageSize=100"), get("/v1/loyalty/rewards?pageSize=100")]);
  box.replaceChildren(box.firstChild);
  const table = (caption, cols, rows) => h("table", {}, h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows));
  const section = (title, res, list, emptyText, render) => {
    box.append(h("h3", {}, title));
    if (!res.ok) { box.append(alertBox(res.error)); return; }
    const items = res.data[list] || [];
    box.append(items.length ? render(items) : empty(emptyText));
  };
  section("Tiers", tiers, "tiers", "No tiers yet: every member is in the base program. Add tiers on the Program page.", (ts) =>
    table("Tiers", ["Rank", "Name", "Qualifies at", "Window"], ts.map((t) => h("tr", {}, h("td", {}, Number(t.rank || 0)), h("td", {}, t.name),
      h("td", {}, t.thresholdSpend && t.thresholdSpend.amountMinor ? fmtMoney(t.thresholdSpend) + " spend" : Number(t.thresholdPoints || 0) + " points"),
      h("td", {}, t.windowMonths ? t.windowMonths + " months" : "lifetime")))));
  section("Earning rules", rules, "rules", "No earning rules yet: orders earn the base rate only.", (rs) =>
    table("Earning rules", ["Name", "Trigger", "Award", "Status"], rs.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, label(r.trigger, "EARNING_TRIGGER_")),
      h("td", {}, r.bonusPoints ? r.bonusPoints + " bonus points" : r.multiplierPercent ? r.multiplierPercent + "% of base" : "rate"),
      h("td", {}, label(r.status, "CONFIG_STATUS_"))))));
  section("Rewards catalog", rewards, "rewards", "No rewards yet: members can still pay with points at checkout.", (rs) =>
    table("Rewards", ["Name", "Type", "Cost", "Status"], rs.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, label(r.type, "REWARD_TYPE_")),
      h("td", {}, Number(r.pointsCost || 0) + " points"), h("td", {}, label(r.status, "CONFIG_STATUS_"))))));
  box.dataset.loaded = "true";
}

async function showMember(out, id, lookup) {
  out.replaceChildren(h("p", {}, "Loading…"));
  const path = "/v1/loyalty/members/" + encodeURIComponent(id);
  const [m, tx] = await Promise.all([get(path), get(path + "/transactions?pageSize=20")]);
  out.replaceChildren();
  if (!m.ok) {
    if (m.status === 404) { out.append(empty("No member " + id + " yet. Members are created by their first order or adjustment.")); }
    else { showErrors(lookup, m.error); return; }
  } else {
    const mem = m.data.member || {};
    const b = mem.balance || {}, t = mem.tier || {};
    out.append(h("h2", {}, "Member " + id),
      h("dl", { class: "facts" },
        h("dt", {}, "Available points"), h("dd", { id: "balance" }, Number(b.available || 0)),
        h("dt", {}, "Pending"), h("dd", {}, Number(b.pending || 0)),
        h("dt", {}, "Held"), h("dd", {}, Number(b.held || 0)),
        h("dt", {}, "Lifetime points"), h("dd", {}, Number(mem.lifetimePoints || 0)),
        h("dt", {}, "Tier"), h("dd", { id: "tier" }, t.tierName || "—"),
        h("dt", {}, "Next tier"), h("dd", {}, t.nextTierName ? t.nextTierName + " in " + Number(t.pointsToNextTier || 0) + " points" : "—")));
    const exp = mem.expiringPoints || [];
    if (exp.length) out.append(h("h3", {}, "Expiring soon"), h("ul", {}, exp.map((x) => h("li", {}, (x.points || 0) + " points on " + fmtTime(x.expiresAt)))));
  }
  out.append(h("h3", {}, "History"));
  if (!tx.ok) { if (tx.status !== 404) out.append(alertBox(tx.error)); }
  else {
    const ts = tx.data.transactions || [];
    if (!ts.length) out.append(empty("No transactions yet."));
    else out.append(h("table", { id: "history" }, h("caption", { class: "sr-only" }, "Transactions"),
      h("thead", {}, h("tr", {}, ["When", "Type", "Points", "Balance after", "Description"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, ts.map((x) => h("tr", {}, h("td", {}, fmtTime(x.createdAt)), h("td", {}, label(x.type, "TRANSACTION_TYPE_")), h("td", {}, Number(x.points || 0)), h("td", {}, Number(x.balanceAfter || 0)), h("td", {}, x.description || ""))))));
  }
  out.append(adjustForm(out, id, lookup));
}

function adjustForm(out, id, lookup) {
  const reasons = [["", "Choose a reason"], ["ADJUSTMENT_REASON_GOODWILL", "Goodwill"], ["ADJUSTMENT_REASON_CORRECTION", "Correction"], ["ADJUSTMENT_REASON_MISSING_PURCHASE", "Missing purchase"], ["ADJUSTMENT_REASON_FRAUD", "Fraud"], ["ADJUSTMENT_REASON_OTHER", "Other"]];
  const form = h("form", { id: "adjust", novalidate: true },
    h("h3", {}, "Manual adjustment"),
    field("Points (negative to debit)", "points", { type: "number", step: "1", field: "points", required: true }),
    field("Reason", "reason", { options: reasons, field: "reason" }),
    field("Note", "note", { field: "note", maxlength: 500 }, "Shown in the member's history and the audit log."),
    formError(),
    h("button", { type: "submit" }, "Adjust points"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["points", "reason"]);
    const p = value(form, "points");
    if (p && (!Number.isInteger(Number(p)) || Number(p) === 0)) vs.push({ field: "points", description: "must be a whole number other than 0" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    const n = Number(p);
    if (!await confirmDialog((n > 0 ? "Credit " + n : "Debit " + -n) + " points " + (n > 0 ? "to " : "from ") + id + "? Adjustments are permanent ledger entries.")) return;
    const res = await post("/v1/loyalty/members/" + encodeURIComponent(id) + "/adjustments", { idempotencyKey: newKey(), points: String(n), reason: value(form, "reason"), note: value(form, "note") });
    if (!res.ok) { showErrors(form, res.error); return; }
    await showMember(out, id, lookup);
    out.prepend(notice("Adjusted " + id + " by " + n + " points."));
  });
  return form;
}

// ---------------------------------------------------------------- recommendations

const STRATEGIES = ["STRATEGY_CROSS_SELL", "STRATEGY_UPSELL", "STRATEGY_PERSONALIZED", "STRATEGY_BUY_AGAIN", "STRATEGY_CART_TOP_UP", "STRATEGY_TRENDING"];

async function recommendationsPage() {
  const out = h("section", { id: "strategies", "aria-live": "polite" });
  const form = h("form", { id: "try", novalidate: true },
    field("Customer id", "customerId", { field: "customer_id", autocomplete: "off" }),
    field("Product ids (comma-separated)", "productIds", { field: "product_ids", autocomplete: "off" }),
    field("Items per strategy", "limit", { type: "number", min: "1", max: "50", value: "5", field: "limit" }),
    formError(),
    h("button", { type: "submit" }, "Try every strategy"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const cust = value(form, "customerId");
    const prods = value(form, "productIds").split(",").map((s) => s.trim()).filter(Boolean);
    const limit = Number(value(form, "limit") || 5);
    if (!cust && !prods.length) { showErrors(form, { message: "give a customer, a product, or both", violations: [{ field: "customer_id", description: "or a product id is required" }] }); return; }
    if (!(limit >= 1 && limit <= 50)) { showErrors(form, { message: "fix the marked fields", violations: [{ field: "limit", description: "must be between 1 and 50" }] }); return; }
    clearErrors(form);
    out.replaceChildren(h("p", {}, "Asking each strategy…"));
    const results = await Promise.all(STRATEGIES.map((s) => {
      const q = new URLSearchParams({ strategy: s, limit: String(limit) });
      if (cust) q.set("customerId", cust);
      for (const p of prods) q.append("productIds", p);
      return get("/v1/recommendations?" + q).then((r) => [s, r]);
    }));
    out.replaceChildren();
    for (const [s, r] of results) {
      const sec = h("section", { class: "strategy", "data-strategy": s }, h("h2", {}, label(s, "STRATEGY_")));
      if (!r.ok) sec.append(h("p", { class: "muted" }, describe(r.error)));
      else if (!(r.data.items || []).length) sec.append(empty("Nothing yet: this strategy needs more orders or interactions for this input."));
      else sec.append(h("ol", {}, r.data.items.map((it) => h("li", {},
        h("strong", {}, (it.product && it.product.title) || it.productId), " ",
        h("span", { class: "muted" }, "score " + Number(it.score || 0).toFixed(3)), h("br"),
        h("span", { class: "reason" }, (it.reason && (it.reason.text || label(it.reason.kind, "REASON_KIND_"))) || "")))));
      out.append(sec);
    }
  });
  main.append(heading("Recommendations"), form, out);
  out.append(empty("Enter a customer, a product or both, and see what each strategy recommends and why."));
}

// ---------------------------------------------------------------- start

document.getElementById("signout").addEventListener("click", () => { clearToken(); location.hash = "#/overview"; route(); });
window.addEventListener("hashchange", route);
// A redirect back from the OIDC provider carries ?code=…; finish it first.
finishSignIn().then((r) => {
  if (r && r.token) setToken(r.token);
  if (r && r.error) signInError = r.error;
  route();
});
