// Loyalty program editing: program settings (base earning rate and the rest
// of GetProgram/UpdateProgram), tiers and their benefits, earning rules and
// campaigns, the rewards catalog with coupon pool uploads, and challenges.
import { get, post, patch, newKey } from "./api.js";
import { h, field, showErrors, clearErrors, formError, alertBox, notice, empty, value, checkRequired, fmtMoney, fmtTime, label, confirmDialog } from "./ui.js";

const table = (caption, cols, rows, attrs = {}) => h("table", attrs, h("caption", { class: "sr-only" }, caption),
  h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows));
const list = (s) => String(s || "").split(/[,\n]/).map((x) => x.trim()).filter(Boolean);
const minor = (v) => String(Math.round(Number(v) * 100));
const fromLocalInput = (v) => (v ? new Date(v + ":00Z").toISOString() : undefined);

// programCurrency is the program's currency (GetProgram), the default of
// every money field; EUR when the settings cannot be read.
let currencyP = null;
function programCurrency() {
  if (!currencyP) currencyP = get("/v1/loyalty/program").then((r) => (r.ok && r.data.program && r.data.program.currency) || "EUR");
  return currencyP;
}

// notServed says an RPC is not deployed yet (older service version).
const notServed = (res) => res.status === 404 && !(res.error && res.error.violations.length) && /not found|Not Found|unknown/i.test(res.error.message || "") || res.status === 501;

export async function programPage(main, heading) {
  const nav = h("ul", { class: "subnav", "aria-label": "Program sections" },
    ["settings", "tiers", "rules", "rewards", "challenges"].map((s) => h("li", {}, h("a", { href: "#/program/" + s }, { settings: "Settings", tiers: "Tiers", rules: "Earning rules & campaigns", rewards: "Rewards & coupons", challenges: "Challenges" }[s]))));
  const sub = (location.hash.split("/")[2] || "settings").split("?")[0];
  for (const a of nav.querySelectorAll("a")) if (a.getAttribute("href").endsWith("/" + sub)) a.setAttribute("aria-current", "page");
  const box = h("div", { id: "program-section-" + sub });
  main.append(heading("Loyalty program"), nav, box);
  const pages = { settings: settingsSection, tiers: tiersSection, rules: rulesSection, rewards: rewardsSection, challenges: challengesSection };
  await (pages[sub] || settingsSection)(box);
  box.dataset.loaded = "true";
}

// ---------------------------------------------------------------- settings

const ROUNDING = [["ROUNDING_DOWN", "Down"], ["ROUNDING_HALF_UP", "Half up"], ["ROUNDING_UP", "Up"]];

async function settingsSection(box) {
  box.append(h("h2", {}, "Program settings"), h("p", {}, "Loading…"));
  const res = await get("/v1/loyalty/program");
  box.lastChild.remove();
  if (!res.ok) {
    box.append(notServed(res) ? empty("This loyalty service does not offer program settings over the API yet (GetProgram). The base rate comes from LOYALTY_BASE_POINTS and LOYALTY_BASE_PER_MINOR; see docs/loyalty.md.") : alertBox(res.error));
    return;
  }
  box.append(programForm(box, res.data.program || {}));
}

const money = (m) => (m && m.amountMinor !== undefined ? (Number(m.amountMinor) / 100).toFixed(2) : "");

function programForm(box, p) {
  const rate = p.baseRate || {};
  const cur = p.currency || (rate.per && rate.per.currency) || "EUR";
  const conv = p.redemptionRate || {};
  const days = p.returnWindow ? Math.round(parseFloat(p.returnWindow) / 86400) : 0;
  const form = h("form", { id: "program-settings", novalidate: true },
    h("fieldset", {}, h("legend", {}, "Base earning rate"),
      field("Points", "ratePoints", { type: "number", min: "1", step: "1", value: String(rate.points || 1), field: "program.base_rate.points", required: true }),
      field("per amount spent (" + cur + ")", "ratePer", { type: "number", min: "0.01", step: "0.01", value: money(rate.per) || "1.00", field: "program.base_rate.per", required: true }),
      field("Rounding", "rounding", { options: ROUNDING, value: rate.rounding || "ROUNDING_DOWN", field: "program.base_rate.rounding" })),
    field("Minimum order value to earn (" + cur + ")", "minOrder", { type: "number", min: "0", step: "0.01", value: money(p.minOrderValue), field: "program.min_order_value" }, "Empty: every order earns."),
    field("Excluded SKUs (comma-separated)", "exclSkus", { value: (p.excludedSkus || []).join(", "), field: "program.excluded_skus" }, "e.g. gift cards"),
    field("Excluded categories (comma-separated)", "exclCats", { value: (p.excludedCategories || []).join(", "), field: "program.excluded_categories" }, "e.g. shipping"),
    field("Return window (days)", "returnDays", { type: "number", min: "0", max: "365", step: "1", value: String(days), field: "program.return_window" }, "Order points stay pending this long, until the order can no longer be returned; 0 vests at once."),
    h("fieldset", {}, h("legend", {}, "Redemption: what points are worth at checkout"),
      field("Points", "convPoints", { type: "number", min: "1", step: "1", value: String(conv.points || 100), field: "program.redemption_rate.points" }),
      field("are worth (" + cur + ")", "convValue", { type: "number", min: "0.01", step: "0.01", value: money(conv.value) || "1.00", field: "program.redemption_rate.value" })),
    p.version ? h("p", { class: "muted", id: "program-version" }, "Version " + p.version + (p.updatedAt ? ", changed " + fmtTime(p.updatedAt) : "") + (p.updatedBy ? " by " + p.updatedBy : "") + ".") : null,
    formError(),
    h("button", { type: "submit" }, "Save settings"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["ratePoints", "ratePer"]);
    const intField = (n, min) => { const v = value(form, n); if (v && !(Number.isInteger(Number(v)) && Number(v) >= min)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "must be a whole number of at least " + min }); };
    intField("ratePoints", 1); intField("convPoints", 1); intField("returnDays", 0);
    for (const n of ["ratePer", "convValue"]) { const v = value(form, n); if (v && !(Number(v) > 0)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "must be more than 0" }); }
    if (value(form, "minOrder") && !(Number(value(form, "minOrder")) >= 0)) vs.push({ field: "program.min_order_value", description: "must be at least 0" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const oldRate = rate.points ? rate.points + " per " + fmtMoney(rate.per) : "unset";
    const newRate = value(form, "ratePoints") + " per " + Number(value(form, "ratePer")).toFixed(2) + " " + cur;
    if (!await confirmDialog("Change the program settings? Base rate " + oldRate + " → " + newRate + ". Orders from now on earn at the new settings; points already earned do not change.", "Save settings")) return;
    const program = {
      baseRate: { points: value(form, "ratePoints"), per: { amountMinor: minor(value(form, "ratePer")), currency: cur }, rounding: value(form, "rounding") },
      excludedSkus: list(value(form, "exclSkus")), excludedCategories: list(value(form, "exclCats")),
      returnWindow: (Number(value(form, "returnDays") || 0) * 86400) + "s",
      redemptionRate: { points: value(form, "convPoints"), value: { amountMinor: minor(value(form, "convValue") || 1), currency: cur } },
    };
    // JSON field masks name the fields in lowerCamelCase. An empty minimum
    // clears it: the mask names it and the value is unset.
    const mask = ["baseRate", "excludedSkus", "excludedCategories", "returnWindow", "redemptionRate", "minOrderValue"];
    if (value(form, "minOrder")) program.minOrderValue = { amountMinor: minor(value(form, "minOrder")), currency: cur };
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true; btn.textContent = "Saving…";
    const res = await patch("/v1/loyalty/program", { idempotencyKey: newKey(), program, updateMask: mask.join(",") });
    btn.disabled = false; btn.textContent = "Save settings";
    if (!res.ok) { showErrors(form, res.error); return; }
    box.replaceChildren(h("h2", {}, "Program settings"), notice("Saved. The base rate is now " + newRate + "."), programForm(box, res.data.program || program));
    box.dataset.saved = "true";
  });
  return form;
}

// ---------------------------------------------------------------- tiers

const MEASURES = [["QUALIFYING_MEASURE_POINTS_EARNED", "Points earned"], ["QUALIFYING_MEASURE_SPEND", "Money spent"]];
const DOWNGRADE = [["DOWNGRADE_POLICY_ONE_TIER", "One tier down"], ["DOWNGRADE_POLICY_TO_QUALIFIED", "To the tier the measure supports"], ["DOWNGRADE_POLICY_NONE", "Never"]];

async function tiersSection(box) {
  const listBox = h("section", { id: "tiers", "aria-live": "polite" }, h("h2", {}, "Tiers"));
  box.append(listBox);
  const form = tierForm(listBox, await programCurrency());
  box.append(form);
  await loadTiers(listBox, form);
}

async function loadTiers(listBox, form, saved) {
  const res = await get("/v1/loyalty/tiers");
  listBox.replaceChildren(h("h2", {}, "Tiers"));
  if (saved) listBox.append(notice(saved));
  if (!res.ok) { listBox.append(alertBox(res.error)); return; }
  const ts = res.data.tiers || [];
  if (!ts.length) { listBox.append(empty("No tiers yet: every member is in the base program. Add the first tier (e.g. Silver at 500 points a year) below.")); return; }
  listBox.append(table("Tiers", ["Rank", "Name", "Qualifies at", "Window", "Benefits", ""], ts.map((t) => h("tr", { "data-tier": t.tierId },
    h("td", {}, Number(t.rank || 0)), h("td", {}, t.name),
    h("td", {}, t.paid ? "paid membership" : t.measure === "QUALIFYING_MEASURE_SPEND" ? fmtMoney(t.thresholdSpend) + " spent" : Number(t.thresholdPoints || 0) + " points"),
    h("td", {}, t.windowMonths ? t.windowMonths + " months" : "lifetime"),
    h("td", {}, [(t.benefits && t.benefits.earnMultiplierPercent > 100) ? (t.benefits.earnMultiplierPercent / 100) + "× points" : null, ...((t.benefits && t.benefits.perks) || [])].filter(Boolean).join(", ") || "—"),
    h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": "Edit " + t.name, onclick: () => fillTier(form, t) }, "Edit"))))));
}

function tierForm(listBox, cur) {
  const form = h("form", { id: "tier-form", novalidate: true },
    h("h2", { id: "tier-form-h" }, "New tier"),
    h("input", { type: "hidden", name: "tierId" }),
    field("Name", "name", { field: "tier.name", required: true, maxlength: 100 }),
    field("Rank (1 = lowest)", "rank", { type: "number", min: "1", step: "1", field: "tier.rank", required: true }),
    field("Qualifies by", "measure", { options: MEASURES, value: "QUALIFYING_MEASURE_POINTS_EARNED", field: "tier.measure" }),
    field("Threshold (points, or money in the currency below)", "threshold", { type: "number", min: "0", step: "0.01", field: "tier.threshold_points", required: true }),
    field("Currency (money thresholds)", "currency", { value: cur, maxlength: 3, field: "tier.threshold_spend.currency" }),
    field("Window (months, 0 = lifetime)", "windowMonths", { type: "number", min: "0", max: "60", step: "1", value: "12", field: "tier.window_months" }),
    field("Downgrade at re-qualification", "downgrade", { options: DOWNGRADE, value: "DOWNGRADE_POLICY_ONE_TIER", field: "tier.downgrade_policy" }),
    field("Points multiplier (%)", "multiplier", { type: "number", min: "100", max: "1000", step: "1", value: "100", field: "tier.benefits.earn_multiplier_percent" }, "150 = members of this tier earn 1.5× base points."),
    field("Perks (one per line)", "perks", { multiline: true, rows: 3, field: "tier.benefits.perks" }, "Shown to members, e.g. Free shipping"),
    formError(),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Save tier"), h("button", { type: "reset", class: "secondary" }, "New tier instead")));
  // A hidden input's value is its default, which reset() keeps: the id is
  // cleared by hand so the next save creates a tier instead of changing
  // the last one edited.
  form.addEventListener("reset", () => setTimeout(() => { form.elements.namedItem("tierId").value = ""; form.querySelector("#tier-form-h").textContent = "New tier"; clearErrors(form); }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["name", "rank", "threshold"]);
    const spend = value(form, "measure") === "QUALIFYING_MEASURE_SPEND";
    if (value(form, "rank") && !(Number.isInteger(Number(value(form, "rank"))) && Number(value(form, "rank")) >= 1)) vs.push({ field: "tier.rank", description: "must be a whole number of at least 1" });
    if (value(form, "threshold") && !(Number(value(form, "threshold")) >= 0)) vs.push({ field: "tier.threshold_points", description: "must be at least 0" });
    if (!spend && value(form, "threshold") && !Number.isInteger(Number(value(form, "threshold")))) vs.push({ field: "tier.threshold_points", description: "points are whole numbers" });
    if (spend && !/^[A-Z]{3}$/.test(value(form, "currency").toUpperCase())) vs.push({ field: "tier.threshold_spend.currency", description: "must be three letters, e.g. EUR" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const tier = {
      name: value(form, "name"), rank: Number(value(form, "rank")), measure: value(form, "measure"),
      windowMonths: Number(value(form, "windowMonths") || 0), downgradePolicy: value(form, "downgrade"),
      benefits: { earnMultiplierPercent: Number(value(form, "multiplier") || 100), perks: list(form.elements.namedItem("perks").value.replace(/\n/g, ",")) },
    };
    if (spend) tier.thresholdSpend = { amountMinor: minor(value(form, "threshold")), currency: value(form, "currency").toUpperCase() };
    else tier.thresholdPoints = String(Number(value(form, "threshold")));
    const id = value(form, "tierId");
    if (id && !await confirmDialog("Change tier “" + tier.name + "”? Members are re-evaluated against the new threshold at their next qualifying event.", "Save tier")) return;
    const res = id ? await patch("/v1/loyalty/tiers/" + encodeURIComponent(id), { idempotencyKey: newKey(), tier: { ...tier, tierId: id } })
      : await post("/v1/loyalty/tiers", { idempotencyKey: newKey(), tier });
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadTiers(listBox, form, (id ? "Saved " : "Created ") + "tier “" + tier.name + "”.");
  });
  return form;
}

function fillTier(form, t) {
  form.querySelector("#tier-form-h").textContent = "Edit tier “" + t.name + "”";
  const set = (n, v) => { form.elements.namedItem(n).value = v === undefined || v === null ? "" : String(v); };
  set("tierId", t.tierId); set("name", t.name); set("rank", t.rank || 1);
  set("measure", t.measure || "QUALIFYING_MEASURE_POINTS_EARNED");
  set("threshold", t.measure === "QUALIFYING_MEASURE_SPEND" ? (Number((t.thresholdSpend || {}).amountMinor || 0) / 100).toFixed(2) : Number(t.thresholdPoints || 0));
  set("currency", (t.thresholdSpend || {}).currency || form.elements.namedItem("currency").defaultValue);
  set("windowMonths", t.windowMonths || 0); set("downgrade", t.downgradePolicy || "DOWNGRADE_POLICY_ONE_TIER");
  set("multiplier", (t.benefits || {}).earnMultiplierPercent || 100);
  set("perks", ((t.benefits || {}).perks || []).join("\n"));
  form.elements.namedItem("name").focus();
}

// ---------------------------------------------------------------- earning rules

const TRIGGERS = [["EARNING_TRIGGER_ORDER", "Order"], ["EARNING_TRIGGER_FIRST_ORDER", "First order"], ["EARNING_TRIGGER_SIGNUP", "Sign-up"], ["EARNING_TRIGGER_BIRTHDAY", "Birthday"], ["EARNING_TRIGGER_PRODUCT_REVIEW", "Product review"], ["EARNING_TRIGGER_CUSTOM_EVENT", "Custom event"]];
const AWARDS = [["bonusPoints", "Bonus points"], ["multiplierPercent", "Multiplier on base points (%)"], ["rate", "Own rate on the order value (points per amount)"]];

async function rulesSection(box) {
  const listBox = h("section", { id: "rules", "aria-live": "polite" }, h("h2", {}, "Earning rules and campaigns"));
  const [tiers, segs, cur] = await Promise.all([get("/v1/loyalty/tiers"), get("/v1/segments?pageSize=200"), programCurrency()]);
  const form = ruleForm(listBox, tiers.ok ? tiers.data.tiers || [] : [], segs.ok ? segs.data.segments || [] : [], cur);
  box.append(listBox, form);
  await loadRules(listBox);
}

function describeAward(r) {
  if (r.bonusPoints) return r.bonusPoints + " bonus points";
  if (r.multiplierPercent) return (r.multiplierPercent / 100) + "× base points";
  if (r.rate) return r.rate.points + " per " + fmtMoney(r.rate.per);
  return "—";
}

// schedule says when a rule or challenge is in effect.
function schedule(from, until) {
  if (!from && !until) return "always";
  if (!until) return "from " + fmtTime(from);
  if (!from) return "until " + fmtTime(until);
  return fmtTime(from) + " → " + fmtTime(until);
}

function describeLimits(r) {
  const c = r.cap || {};
  const out = [];
  if (Number(c.maxPointsPerMember)) out.push(c.maxPointsPerMember + " per member" + (c.period ? " per " + Math.round(parseInt(c.period, 10) / 86400) + " days" : ""));
  if (Number(c.budgetPoints)) out.push("budget " + c.budgetPoints);
  return out.join(", ") || "none";
}

function describeTarget(r) {
  const t = r.target || {};
  const out = [];
  if ((t.tierIds || []).length) out.push("tiers " + t.tierIds.join(", "));
  if ((t.segmentIds || []).length) out.push("segments " + t.segmentIds.join(", "));
  if ((t.categories || []).length) out.push("categories " + t.categories.join(", "));
  if ((t.skus || []).length) out.push("SKUs " + t.skus.join(", "));
  return out.join("; ") || "everyone";
}

// ruleFormEl is the rule form of the page, which "Edit" fills.
let ruleFormEl = null;

async function loadRules(listBox, saved) {
  const [res, totals] = await Promise.all([get("/v1/loyalty/earning-rules?pageSize=200"), get("/v1/loyalty/reports/rules")]);
  listBox.replaceChildren(h("h2", {}, "Earning rules and campaigns"));
  if (saved) listBox.append(notice(saved));
  if (!res.ok) { listBox.append(alertBox(res.error)); return; }
  const rs = res.data.rules || [];
  if (!rs.length) { listBox.append(empty("No earning rules yet: orders earn the base rate only. Create a campaign below, e.g. double points on garden products for Gold members in May.")); return; }
  const awarded = {};
  if (totals.ok) for (const t of totals.data.totals || []) awarded[t.ruleId] = t;
  listBox.append(table("Earning rules", ["Name", "Trigger", "Award", "Who", "Schedule", "Limits", "Awarded", "Status", ""], rs.map((r) => {
    const st = r.status || "CONFIG_STATUS_DRAFT";
    const act = async (to) => {
      if (to === "CONFIG_STATUS_PAUSED" && !await confirmDialog("Pause “" + r.name + "”? Orders stop earning from it until you activate it again.", "Pause")) return;
      if (to === "CONFIG_STATUS_ARCHIVED" && !await confirmDialog("Archive “" + r.name + "”? It stops for good and cannot be activated again.", "Archive")) return;
      const u = await patch("/v1/loyalty/earning-rules/" + encodeURIComponent(r.ruleId), { idempotencyKey: newKey(), rule: { ruleId: r.ruleId, status: to }, updateMask: "status" });
      if (!u.ok) { listBox.append(alertBox(u.error)); return; }
      await loadRules(listBox, "“" + r.name + "” is now " + label(to, "CONFIG_STATUS_").toLowerCase() + ".");
    };
    const tot = awarded[r.ruleId];
    return h("tr", { "data-rule": r.ruleId },
      h("td", {}, r.name), h("td", {}, label(r.trigger, "EARNING_TRIGGER_")), h("td", {}, describeAward(r)), h("td", {}, describeTarget(r)),
      h("td", {}, schedule(r.startsAt, r.endsAt)), h("td", {}, describeLimits(r)),
      h("td", {}, totals.ok ? Number((tot && tot.points) || 0) + " points" + (tot && Number(tot.members) ? " to " + tot.members + " members" : "") : "—"),
      h("td", { class: "status" }, label(st, "CONFIG_STATUS_")),
      h("td", {},
        st !== "CONFIG_STATUS_ACTIVE" && st !== "CONFIG_STATUS_ARCHIVED" ? h("button", { type: "button", "aria-label": "Activate " + r.name, onclick: () => act("CONFIG_STATUS_ACTIVE") }, "Activate") : null,
        st === "CONFIG_STATUS_ACTIVE" ? h("button", { type: "button", class: "secondary", "aria-label": "Pause " + r.name, onclick: () => act("CONFIG_STATUS_PAUSED") }, "Pause") : null,
        st !== "CONFIG_STATUS_ARCHIVED" && ruleFormEl ? h("button", { type: "button", class: "secondary", "aria-label": "Edit " + r.name, onclick: () => fillRule(ruleFormEl, r) }, "Edit") : null,
        st !== "CONFIG_STATUS_ARCHIVED" ? h("button", { type: "button", class: "secondary", "aria-label": "Archive " + r.name, onclick: () => act("CONFIG_STATUS_ARCHIVED") }, "Archive") : null));
  })));
}

// fillRule loads a rule into the form for editing; saving replaces every
// writable field of the rule.
function fillRule(form, r) {
  form.reset();
  setTimeout(() => {
    const set = (n, v) => { form.elements.namedItem(n).value = v === undefined || v === null ? "" : String(v); };
    const t = r.target || {}, c = r.cap || {};
    form.querySelector("#rule-form-h").textContent = "Edit “" + r.name + "”";
    form.querySelector("button[type=submit]").textContent = "Save rule";
    set("ruleId", r.ruleId); set("name", r.name); set("description", r.description || ""); set("trigger", r.trigger || "EARNING_TRIGGER_ORDER");
    set("customEvent", r.customEventName || "");
    set("awardKind", r.rate ? "rate" : r.multiplierPercent ? "multiplierPercent" : "bonusPoints");
    set("awardValue", r.rate ? Number(r.rate.points || 0) : r.multiplierPercent || r.bonusPoints || "");
    if (r.rate) {
      set("ratePer", r.rate.per && r.rate.per.amountMinor ? (Number(r.rate.per.amountMinor) / 100).toFixed(2) : "");
      if (r.rate.per && r.rate.per.currency) set("currency", r.rate.per.currency);
      set("rateRounding", r.rate.rounding || "ROUNDING_DOWN");
    }
    form.elements.namedItem("awardKind").dispatchEvent(new Event("change"));
    set("startsAt", r.startsAt ? new Date(r.startsAt).toISOString().slice(0, 16) : ""); set("endsAt", r.endsAt ? new Date(r.endsAt).toISOString().slice(0, 16) : "");
    for (const cb of form.querySelectorAll("input[name=tierIds]")) cb.checked = (t.tierIds || []).includes(cb.value);
    for (const cb of form.querySelectorAll("input[name=segmentIds]")) cb.checked = (t.segmentIds || []).includes(cb.value);
    set("categories", (t.categories || []).join(", ")); set("skus", (t.skus || []).join(", "));
    set("minOrder", t.minOrderValue && t.minOrderValue.amountMinor ? (Number(t.minOrderValue.amountMinor) / 100).toFixed(2) : "");
    if (t.minOrderValue && t.minOrderValue.currency) set("currency", t.minOrderValue.currency);
    set("capPerMember", Number(c.maxPointsPerMember || 0)); set("capDays", c.period ? Math.round(parseFloat(c.period) / 86400) : "");
    set("budget", Number(c.budgetPoints || 0)); set("holdout", r.holdoutPercent || 0); set("priority", r.priority || 0);
    set("status", r.status || "CONFIG_STATUS_DRAFT");
    form.elements.namedItem("name").focus();
  });
}

function checkboxes(legend, name, items, hint) {
  if (!items.length) return h("fieldset", { "data-field": name }, h("legend", {}, legend), h("p", { class: "muted" }, hint));
  return h("fieldset", { "data-field": name }, h("legend", {}, legend),
    items.map(([v, t]) => { const id = "cb-" + name.replace(/\W+/g, "-") + "-" + v.replace(/\W+/g, "-"); return h("div", {}, h("input", { type: "checkbox", id, name, value: v }), " ", h("label", { for: id }, t)); }));
}

function ruleForm(listBox, tiers, segments, cur) {
  const form = h("form", { id: "rule-form", novalidate: true },
    h("h2", { id: "rule-form-h" }, "New earning rule or campaign"),
    h("input", { type: "hidden", name: "ruleId" }),
    field("Name", "name", { field: "rule.name", required: true, maxlength: 200 }),
    field("Description", "description", { field: "rule.description" }),
    field("Trigger", "trigger", { options: TRIGGERS, value: "EARNING_TRIGGER_ORDER", field: "rule.trigger" }),
    field("Custom event name (custom event trigger)", "customEvent", { field: "rule.custom_event_name" }),
    field("Award", "awardKind", { options: AWARDS, value: "bonusPoints", field: "award" }),
    field("Award value", "awardValue", { type: "number", min: "1", step: "1", field: "rule.bonus_points", required: true }, "Bonus points, a multiplier in percent (200 = double points), or the points of an own rate."),
    h("fieldset", { id: "rate-fields", hidden: true }, h("legend", {}, "Own rate (instead of the base rate)"),
      field("per amount spent (currency under Target)", "ratePer", { type: "number", min: "0.01", step: "0.01", value: "1.00", field: "rule.rate.per" }, "e.g. 3 points per 1.00"),
      field("Rounding", "rateRounding", { options: ROUNDING, value: "ROUNDING_DOWN", field: "rule.rate.rounding" })),
    h("fieldset", {}, h("legend", {}, "Schedule"),
      field("Starts (UTC)", "startsAt", { type: "datetime-local", field: "rule.starts_at" }, "Empty: now."),
      field("Ends (UTC)", "endsAt", { type: "datetime-local", field: "rule.ends_at" }, "Empty: open-ended.")),
    h("fieldset", {}, h("legend", {}, "Target"),
      checkboxes("Tiers", "tierIds", tiers.map((t) => [t.tierId, t.name]), "No tiers yet: the rule applies to every member."),
      checkboxes("Segments", "segmentIds", segments.map((s) => [s.segmentId, s.name + " (" + Number(s.size || 0) + ")"]), "No segments yet: create one on the Segments page to target it."),
      field("Only categories (comma-separated)", "categories", { field: "rule.target.categories" }, "e.g. home/garden"),
      field("Only SKUs (comma-separated)", "skus", { field: "rule.target.skus" }),
      field("Minimum order value", "minOrder", { type: "number", min: "0", step: "0.01", field: "rule.target.min_order_value" }),
      field("Currency", "currency", { value: cur, maxlength: 3, field: "rule.target.min_order_value.currency" })),
    h("fieldset", {}, h("legend", {}, "Limits"),
      field("Most points per member (0 = no cap)", "capPerMember", { type: "number", min: "0", step: "1", value: "0", field: "rule.cap.max_points_per_member" }),
      field("Cap period (days, empty = whole campaign)", "capDays", { type: "number", min: "1", step: "1", field: "rule.cap.period" }),
      field("Budget: total points (0 = no budget)", "budget", { type: "number", min: "0", step: "1", value: "0", field: "rule.cap.budget_points" }),
      field("Hold-out (% of members, to measure lift)", "holdout", { type: "number", min: "0", max: "50", step: "1", value: "0", field: "rule.holdout_percent" }),
      field("Priority (higher first)", "priority", { type: "number", step: "1", value: "0", field: "rule.priority" })),
    field("Status", "status", { options: [["CONFIG_STATUS_DRAFT", "Draft"], ["CONFIG_STATUS_ACTIVE", "Active"], ["CONFIG_STATUS_PAUSED", "Paused"]], value: "CONFIG_STATUS_DRAFT", field: "rule.status" }),
    formError(),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create rule"), h("button", { type: "reset", class: "secondary" }, "Clear")));
  ruleFormEl = form;
  form.addEventListener("reset", () => setTimeout(() => {
    form.elements.namedItem("ruleId").value = ""; // reset() keeps a hidden input's value
    form.querySelector("#rule-form-h").textContent = "New earning rule or campaign";
    form.querySelector("button[type=submit]").textContent = "Create rule";
    clearErrors(form);
  }));
  const awardField = () => ({ bonusPoints: "rule.bonus_points", multiplierPercent: "rule.multiplier_percent", rate: "rule.rate.points" })[value(form, "awardKind")];
  // The rate's amount and rounding show only for a rate award.
  const awardKindChanged = () => {
    form.elements.namedItem("awardValue").dataset.field = awardField();
    form.querySelector("#rate-fields").hidden = value(form, "awardKind") !== "rate";
  };
  form.elements.namedItem("awardKind").addEventListener("change", awardKindChanged);
  form.addEventListener("reset", () => setTimeout(awardKindChanged));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    form.elements.namedItem("awardValue").dataset.field = awardField();
    const vs = checkRequired(form, ["name", "awardValue"]);
    const av = value(form, "awardValue");
    if (av && !(Number.isInteger(Number(av)) && Number(av) > 0)) vs.push({ field: awardField(), description: "must be a whole number above 0" });
    if (av && value(form, "awardKind") === "multiplierPercent" && Number(av) <= 100) vs.push({ field: awardField(), description: "a multiplier must be above 100 (150 = 1.5×)" });
    const rate = value(form, "awardKind") === "rate";
    if (rate && !(Number(value(form, "ratePer")) > 0)) vs.push({ field: "rule.rate.per", description: "must be more than 0" });
    if (rate && !/^[A-Z]{3}$/.test(value(form, "currency").toUpperCase())) vs.push({ field: "rule.target.min_order_value.currency", description: "must be three letters, e.g. EUR" });
    const s = value(form, "startsAt"), en = value(form, "endsAt");
    if (s && en && en <= s) vs.push({ field: "rule.ends_at", description: "must be after the start" });
    if (value(form, "trigger") === "EARNING_TRIGGER_CUSTOM_EVENT" && !value(form, "customEvent")) vs.push({ field: "rule.custom_event_name", description: "is required for a custom event" });
    for (const n of ["capPerMember", "budget", "holdout"]) { const v = value(form, n); if (v && !(Number.isInteger(Number(v)) && Number(v) >= 0)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "must be a whole number of at least 0" }); }
    if (Number(value(form, "holdout")) > 50) vs.push({ field: "rule.holdout_percent", description: "must be at most 50" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const checked = (n) => [...form.querySelectorAll("input[name=" + n + "]:checked")].map((x) => x.value);
    const rule = {
      name: value(form, "name"), description: value(form, "description"), trigger: value(form, "trigger"),
      target: { tierIds: checked("tierIds"), segmentIds: checked("segmentIds"), categories: list(value(form, "categories")), skus: list(value(form, "skus")) },
      cap: { maxPointsPerMember: String(Number(value(form, "capPerMember") || 0)), budgetPoints: String(Number(value(form, "budget") || 0)) },
      holdoutPercent: Number(value(form, "holdout") || 0), priority: Number(value(form, "priority") || 0), status: value(form, "status"),
    };
    if (value(form, "customEvent")) rule.customEventName = value(form, "customEvent");
    if (value(form, "awardKind") === "bonusPoints") rule.bonusPoints = String(Number(av));
    else if (rate) rule.rate = { points: String(Number(av)), per: { amountMinor: minor(value(form, "ratePer")), currency: value(form, "currency").toUpperCase() }, rounding: value(form, "rateRounding") };
    else rule.multiplierPercent = Number(av);
    if (value(form, "capDays")) rule.cap.period = (Number(value(form, "capDays")) * 86400) + "s";
    if (value(form, "minOrder")) rule.target.minOrderValue = { amountMinor: minor(value(form, "minOrder")), currency: value(form, "currency").toUpperCase() };
    if (s) rule.startsAt = fromLocalInput(s);
    if (en) rule.endsAt = fromLocalInput(en);
    const id = value(form, "ruleId");
    if (id && !await confirmDialog("Save the changes to “" + rule.name + "”? Orders from now on earn by the new rule.", "Save rule")) return;
    const btn = form.querySelector("button[type=submit]");
    const label0 = btn.textContent;
    btn.disabled = true; btn.textContent = id ? "Saving…" : "Creating…";
    const res = id ? await patch("/v1/loyalty/earning-rules/" + encodeURIComponent(id), { idempotencyKey: newKey(), rule: { ...rule, ruleId: id } })
      : await post("/v1/loyalty/earning-rules", { idempotencyKey: newKey(), rule });
    btn.disabled = false; btn.textContent = label0;
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadRules(listBox, (id ? "Saved “" : "Created “") + rule.name + "” (" + label(rule.status, "CONFIG_STATUS_").toLowerCase() + ").");
  });
  return form;
}

// ---------------------------------------------------------------- rewards

const REWARD_TYPES = [["REWARD_TYPE_FIXED_DISCOUNT", "Fixed discount"], ["REWARD_TYPE_PERCENT_DISCOUNT", "Percent discount"], ["REWARD_TYPE_FREE_PRODUCT", "Free product"], ["REWARD_TYPE_COUPON", "Coupon code from a pool"]];

async function rewardsSection(box) {
  const listBox = h("section", { id: "rewards", "aria-live": "polite" }, h("h2", {}, "Rewards catalog"));
  const upload = h("section", { id: "upload", "aria-live": "polite" });
  const [tiers, cur] = await Promise.all([get("/v1/loyalty/tiers"), programCurrency()]);
  tierNames = Object.fromEntries((tiers.ok ? tiers.data.tiers || [] : []).map((t) => [t.tierId, t.name]));
  box.append(listBox, upload, rewardForm(listBox, upload, cur, tiers.ok ? tiers.data.tiers || [] : []));
  await loadRewards(listBox, upload);
}

function describeRewardValue(r) {
  switch (r.type) {
    case "REWARD_TYPE_FIXED_DISCOUNT": return fmtMoney(r.discount) + " off";
    case "REWARD_TYPE_PERCENT_DISCOUNT": return ((r.percentOffBps || 0) / 100) + "% off";
    case "REWARD_TYPE_FREE_PRODUCT": return "free " + (r.productId || "product");
    case "REWARD_TYPE_COUPON": return "a coupon code";
    default: return "—";
  }
}

async function loadRewards(listBox, upload, saved) {
  const res = await get("/v1/loyalty/rewards?pageSize=200");
  listBox.replaceChildren(h("h2", {}, "Rewards catalog"));
  if (saved) listBox.append(notice(saved));
  if (!res.ok) { listBox.append(alertBox(res.error)); return; }
  const rs = res.data.rewards || [];
  if (!rs.length) { listBox.append(empty("No rewards yet: members can still pay with points at checkout. Add one below; coupon rewards then need codes uploaded.")); return; }
  listBox.append(table("Rewards", ["Name", "Gives", "Cost", "Stock", "Limits", "Valid", "Status", ""], rs.map((r) => h("tr", { "data-reward": r.rewardId },
    h("td", {}, r.name), h("td", {}, describeRewardValue(r)), h("td", {}, Number(r.pointsCost || 0) + " points"),
    h("td", {}, r.stock === undefined || r.stock === null ? "unlimited" : Number(r.stock)),
    h("td", {}, [Number(r.perMemberLimit) ? r.perMemberLimit + " per member" : "", (r.tierIds || []).length ? "tiers " + r.tierIds.map((id) => tierNames[id] || id).join(", ") : ""].filter(Boolean).join("; ") || "none"),
    h("td", {}, schedule(r.validFrom, r.validUntil)),
    h("td", { class: "status" }, label(r.status, "CONFIG_STATUS_")),
    h("td", {},
      rewardFormEl && r.status !== "CONFIG_STATUS_ARCHIVED" ? h("button", { type: "button", class: "secondary", "aria-label": "Edit " + r.name, onclick: () => fillReward(rewardFormEl, r) }, "Edit") : null,
      r.type === "REWARD_TYPE_COUPON" ? h("button", { type: "button", class: "secondary", "aria-label": "Upload codes for " + r.name, onclick: () => couponUpload(upload, r) }, "Upload codes") : null)))));
}

// rewardFormEl is the reward form of the page, which "Edit" fills;
// tierNames names the tiers a reward is restricted to.
let rewardFormEl = null, tierNames = {};

// localInput turns a timestamp into a datetime-local value in UTC.
const localInput = (t) => (t ? new Date(t).toISOString().slice(0, 16) : "");

// fillReward loads a reward into the form for editing. Its type stays: a
// different kind of reward is a new reward.
function fillReward(form, r) {
  form.reset();
  setTimeout(() => {
    const set = (n, v) => { form.elements.namedItem(n).value = v === undefined || v === null ? "" : String(v); };
    form.querySelector("#reward-form-h").textContent = "Edit “" + r.name + "”";
    form.querySelector("button[type=submit]").textContent = "Save reward";
    set("rewardId", r.rewardId); set("name", r.name); set("description", r.description || "");
    set("type", r.type || "REWARD_TYPE_FIXED_DISCOUNT");
    form.elements.namedItem("type").disabled = true;
    set("pointsCost", Number(r.pointsCost || 0));
    set("discount", r.discount && r.discount.amountMinor ? (Number(r.discount.amountMinor) / 100).toFixed(2) : "");
    if (r.discount && r.discount.currency) set("currency", r.discount.currency);
    set("percent", r.percentOffBps ? r.percentOffBps / 100 : ""); set("productId", r.productId || "");
    set("stock", r.stock === undefined || r.stock === null ? "" : Number(r.stock));
    set("perMember", r.perMemberLimit || 0);
    for (const cb of form.querySelectorAll("input[name=rewardTiers]")) cb.checked = (r.tierIds || []).includes(cb.value);
    set("validFrom", localInput(r.validFrom)); set("validUntil", localInput(r.validUntil));
    set("status", r.status === "CONFIG_STATUS_ACTIVE" ? "CONFIG_STATUS_ACTIVE" : r.status === "CONFIG_STATUS_PAUSED" ? "CONFIG_STATUS_PAUSED" : "CONFIG_STATUS_DRAFT");
    form.elements.namedItem("pointsCost").focus();
  });
}

// tierChoice is the reward's tier restriction: checkboxes named after the
// request field, with an error line of their own for the server's answer.
function tierChoice(tiers) {
  const box = checkboxes("Only members of these tiers", "rewardTiers", tiers.map((t) => [t.tierId, t.name]), "No tiers yet: every member may redeem it.");
  box.dataset.field = "reward.tier_ids";
  box.setAttribute("aria-describedby", "f-rewardTiers-err");
  box.append(h("div", { class: "field-error", id: "f-rewardTiers-err", role: "alert" }));
  return box;
}

function rewardForm(listBox, upload, cur, tiers) {
  const form = h("form", { id: "reward-form", novalidate: true },
    h("h2", { id: "reward-form-h" }, "New reward"),
    h("input", { type: "hidden", name: "rewardId" }),
    field("Name", "name", { field: "reward.name", required: true, maxlength: 200 }),
    field("Description", "description", { field: "reward.description" }),
    field("Type", "type", { options: REWARD_TYPES, value: "REWARD_TYPE_FIXED_DISCOUNT", field: "reward.type" }),
    field("Points cost", "pointsCost", { type: "number", min: "1", step: "1", field: "reward.points_cost", required: true }),
    field("Amount off (fixed discount)", "discount", { type: "number", min: "0.01", step: "0.01", field: "reward.discount" }),
    field("Currency", "currency", { value: cur, maxlength: 3, field: "reward.discount.currency" }),
    field("Percent off (percent discount)", "percent", { type: "number", min: "1", max: "100", step: "0.01", field: "reward.percent_off_bps" }),
    field("Product id (free product)", "productId", { field: "reward.product_id" }),
    field("Stock (empty = unlimited)", "stock", { type: "number", min: "0", step: "1", field: "reward.stock" }),
    field("Per member limit (0 = unlimited)", "perMember", { type: "number", min: "0", step: "1", value: "0", field: "reward.per_member_limit" }),
    tierChoice(tiers),
    h("fieldset", {}, h("legend", {}, "Validity"),
      field("Redeemable from (UTC)", "validFrom", { type: "datetime-local", field: "reward.valid_from" }, "Empty: at once."),
      field("Redeemable until (UTC)", "validUntil", { type: "datetime-local", field: "reward.valid_until" }, "Empty: no end.")),
    field("Status", "status", { options: [["CONFIG_STATUS_DRAFT", "Draft"], ["CONFIG_STATUS_ACTIVE", "Active"], ["CONFIG_STATUS_PAUSED", "Paused"]], value: "CONFIG_STATUS_ACTIVE", field: "reward.status" }),
    formError(),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create reward"), h("button", { type: "reset", class: "secondary" }, "Clear")));
  rewardFormEl = form;
  form.addEventListener("reset", () => setTimeout(() => {
    form.elements.namedItem("rewardId").value = ""; // reset() keeps a hidden input's value
    form.querySelector("#reward-form-h").textContent = "New reward";
    form.querySelector("button[type=submit]").textContent = "Create reward";
    form.elements.namedItem("type").disabled = false;
    clearErrors(form);
  }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["name", "pointsCost"]);
    for (const n of ["stock", "perMember"]) { const v = value(form, n); if (v && !(Number.isInteger(Number(v)) && Number(v) >= 0)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "must be a whole number of at least 0" }); }
    const vf = value(form, "validFrom"), vu = value(form, "validUntil");
    if (vf && vu && vu <= vf) vs.push({ field: "reward.valid_until", description: "must be after the start" });
    const type = value(form, "type");
    const pc = value(form, "pointsCost");
    if (pc && !(Number.isInteger(Number(pc)) && Number(pc) > 0)) vs.push({ field: "reward.points_cost", description: "must be a whole number above 0" });
    if (type === "REWARD_TYPE_FIXED_DISCOUNT" && !(Number(value(form, "discount")) > 0)) vs.push({ field: "reward.discount", description: "is required for a fixed discount" });
    if (type === "REWARD_TYPE_PERCENT_DISCOUNT" && !(Number(value(form, "percent")) > 0 && Number(value(form, "percent")) <= 100)) vs.push({ field: "reward.percent_off_bps", description: "must be between 0 and 100" });
    if (type === "REWARD_TYPE_FREE_PRODUCT" && !value(form, "productId")) vs.push({ field: "reward.product_id", description: "is required for a free product" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const reward = { name: value(form, "name"), description: value(form, "description"), type, pointsCost: String(Number(pc)), perMemberLimit: Number(value(form, "perMember") || 0), status: value(form, "status") };
    if (type === "REWARD_TYPE_FIXED_DISCOUNT") reward.discount = { amountMinor: minor(value(form, "discount")), currency: value(form, "currency").toUpperCase() };
    if (type === "REWARD_TYPE_PERCENT_DISCOUNT") reward.percentOffBps = Math.round(Number(value(form, "percent")) * 100);
    if (type === "REWARD_TYPE_FREE_PRODUCT") reward.productId = value(form, "productId");
    if (value(form, "stock")) reward.stock = String(Number(value(form, "stock")));
    reward.tierIds = [...form.querySelectorAll("input[name=rewardTiers]:checked")].map((x) => x.value);
    if (vf) reward.validFrom = fromLocalInput(vf);
    if (vu) reward.validUntil = fromLocalInput(vu);
    const id = value(form, "rewardId");
    if (id && !await confirmDialog("Save the changes to “" + reward.name + "”? Members see the new cost, stock and limits at once; redemptions already made keep their terms.", "Save reward")) return;
    const btn = form.querySelector("button[type=submit]");
    const label0 = btn.textContent;
    btn.disabled = true; btn.textContent = id ? "Saving…" : "Creating…";
    // The mask names every field of the form (lowerCamelCase in JSON), so
    // an emptied stock or validity is cleared and the type, which the form
    // does not change, is kept.
    const res = id ? await patch("/v1/loyalty/rewards/" + encodeURIComponent(id), { idempotencyKey: newKey(), reward: { ...reward, rewardId: id }, updateMask: ["name", "description", "pointsCost", "discount", "percentOffBps", "productId", "stock", "perMemberLimit", "tierIds", "validFrom", "validUntil", "status"].join(",") })
      : await post("/v1/loyalty/rewards", { idempotencyKey: newKey(), reward });
    btn.disabled = false; btn.textContent = label0;
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadRewards(listBox, upload, (id ? "Saved “" : "Created “") + reward.name + "”." + (!id && type === "REWARD_TYPE_COUPON" ? " Upload its codes with “Upload codes”." : ""));
  });
  return form;
}

// parseCodes reads a CSV or a plain list: the first column of each line,
// quotes removed, a "code" header skipped, duplicates dropped; codes longer
// than 64 characters are reported, not sent.
export function parseCodes(text) {
  const seen = new Set(), codes = [], bad = [];
  text.split(/\r?\n/).forEach((line, i) => {
    let c = line.split(/[,;\t]/)[0].trim().replace(/^"(.*)"$/, "$1").trim();
    if (!c || (i === 0 && /^codes?$/i.test(c))) return;
    if (c.length > 64) { bad.push("line " + (i + 1) + ": longer than 64 characters"); return; }
    if (!seen.has(c)) { seen.add(c); codes.push(c); }
  });
  return { codes, bad };
}

// BATCH codes go in one AddCouponCodes call (the API takes up to 10,000).
const BATCH = 1000;

function couponUpload(box, r) {
  const form = h("form", { id: "upload-form", novalidate: true },
    h("h2", {}, "Upload coupon codes for “" + r.name + "”"),
    field("File (CSV or one code per line)", "file", { type: "file", accept: ".csv,.txt,text/csv,text/plain", field: "codes" }, "The first column of each line is the code; a header named “code” is skipped."),
    h("div", { id: "upload-summary", "aria-live": "polite" }),
    formError(),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Upload"), h("button", { type: "button", class: "secondary", onclick: () => box.replaceChildren() }, "Close")));
  let parsed = null;
  form.elements.namedItem("file").addEventListener("change", async (e) => {
    clearErrors(form);
    const f = e.target.files[0];
    parsed = f ? parseCodes(await f.text()) : null;
    const sum = form.querySelector("#upload-summary");
    sum.replaceChildren();
    if (!parsed) return;
    sum.append(h("p", {}, parsed.codes.length + " distinct codes read" + (parsed.bad.length ? ", " + parsed.bad.length + " skipped (" + parsed.bad.slice(0, 3).join("; ") + (parsed.bad.length > 3 ? "; …" : "") + ")" : "") + "."),
      parsed.codes.length ? h("p", { class: "muted" }, "First: " + parsed.codes.slice(0, 5).join(", ")) : null);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!parsed || !parsed.codes.length) { showErrors(form, { message: "choose a file with codes", violations: [{ field: "codes", description: "choose a file with at least one code" }] }); return; }
    if (!await confirmDialog("Upload " + parsed.codes.length + " codes to “" + r.name + "”? Codes cannot be removed from a pool; codes already in it are skipped.", "Upload")) return;
    const codes = parsed.codes;
    const bar = h("progress", { class: "upload", max: String(codes.length), value: "0", "aria-label": "Upload progress" });
    const status = h("p", { role: "status" }, "0 of " + codes.length + " sent…");
    form.querySelector("#upload-summary").replaceChildren(bar, status);
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    // One key per batch, made before the first call, so retrying the whole
    // upload after a failure skips the batches already stored.
    let added = 0, last = null;
    for (let i = 0; i < codes.length; i += BATCH) {
      const res = await post("/v1/loyalty/rewards/" + encodeURIComponent(r.rewardId) + "/coupon-codes", { idempotencyKey: newKey(), codes: codes.slice(i, i + BATCH) });
      if (!res.ok) { btn.disabled = false; showErrors(form, res.error); status.textContent = "Stopped after " + i + " of " + codes.length + " codes."; return; }
      added += Number(res.data.added || 0); last = res.data;
      bar.value = Math.min(codes.length, i + BATCH);
      status.textContent = bar.value + " of " + codes.length + " sent…";
    }
    btn.disabled = false;
    status.textContent = "Done: " + added + " new codes added; " + Number(last.available || 0) + " available of " + Number(last.total || 0) + " in the pool.";
    form.dataset.done = "true";
  });
  box.replaceChildren(form);
  form.elements.namedItem("file").focus();
}

// ---------------------------------------------------------------- challenges

const GOALS = [["CHALLENGE_GOAL_ITEM_COUNT", "Units bought"], ["CHALLENGE_GOAL_ORDER_COUNT", "Orders placed"], ["CHALLENGE_GOAL_SPEND", "Money spent"]];

async function challengesSection(box) {
  const listBox = h("section", { id: "challenges", "aria-live": "polite" }, h("h2", {}, "Challenges"));
  box.append(listBox);
  // The form exists before the list so that the rows' Edit buttons have it.
  const form = challengeForm(listBox);
  const ok = await loadChallenges(listBox);
  if (ok) box.append(form);
}

function describeGoal(c) {
  const t = Number(c.target || 0);
  const what = c.goal === "CHALLENGE_GOAL_SPEND" ? (t / 100).toFixed(2) + " spent" : c.goal === "CHALLENGE_GOAL_ORDER_COUNT" ? t + " orders" : t + " units";
  const on = [...(c.skus || []), ...(c.categories || [])].join(", ");
  return what + (on ? " of " + on : "");
}

async function loadChallenges(listBox, saved) {
  const res = await get("/v1/loyalty/challenges?pageSize=100");
  listBox.replaceChildren(h("h2", {}, "Challenges"));
  if (saved) listBox.append(notice(saved));
  if (!res.ok) {
    listBox.append(notServed(res) ? empty("This loyalty service does not offer challenges yet.") : alertBox(res.error));
    return false;
  }
  const cs = res.data.challenges || [];
  if (!cs.length) { listBox.append(empty("No challenges yet. A challenge is a stamp card: e.g. buy 4 cans in May and get 200 points. Create one below.")); return true; }
  listBox.append(table("Challenges", ["Name", "Goal", "Reward", "Schedule", "Status", ""], cs.map((c) => {
    const st = c.status || "CONFIG_STATUS_DRAFT";
    const act = async (to) => {
      if (to === "CONFIG_STATUS_PAUSED" && !await confirmDialog("Pause “" + c.name + "”? Orders stop counting toward it until you activate it again.", "Pause")) return;
      const u = await patch("/v1/loyalty/challenges/" + encodeURIComponent(c.challengeId), { idempotencyKey: newKey(), challenge: { challengeId: c.challengeId, status: to }, updateMask: "status" });
      if (!u.ok) { listBox.append(alertBox(u.error)); return; }
      await loadChallenges(listBox, "“" + c.name + "” is now " + label(to, "CONFIG_STATUS_").toLowerCase() + ".");
    };
    return h("tr", { "data-challenge": c.challengeId },
      h("td", {}, c.name), h("td", {}, describeGoal(c)),
      h("td", {}, [Number(c.rewardPoints) ? c.rewardPoints + " points" : "", c.rewardId ? "reward " + c.rewardId : ""].filter(Boolean).join(" + ") || "—"),
      h("td", {}, schedule(c.startsAt, c.endsAt)), h("td", { class: "status" }, label(st, "CONFIG_STATUS_")),
      h("td", {},
        st !== "CONFIG_STATUS_ACTIVE" && st !== "CONFIG_STATUS_ARCHIVED" ? h("button", { type: "button", "aria-label": "Activate " + c.name, onclick: () => act("CONFIG_STATUS_ACTIVE") }, "Activate") : null,
        st === "CONFIG_STATUS_ACTIVE" ? h("button", { type: "button", class: "secondary", "aria-label": "Pause " + c.name, onclick: () => act("CONFIG_STATUS_PAUSED") }, "Pause") : null,
        st !== "CONFIG_STATUS_ARCHIVED" && challengeFormEl ? h("button", { type: "button", class: "secondary", "aria-label": "Edit " + c.name, onclick: () => fillChallenge(challengeFormEl, c) }, "Edit") : null));
  })));
  return true;
}

// challengeFormEl is the challenge form of the page, which "Edit" fills.
let challengeFormEl = null;

// fillChallenge loads a challenge into the form for editing.
function fillChallenge(form, c) {
  form.reset();
  setTimeout(() => {
    const set = (n, v) => { form.elements.namedItem(n).value = v === undefined || v === null ? "" : String(v); };
    form.querySelector("#challenge-form-h").textContent = "Edit “" + c.name + "”";
    form.querySelector("button[type=submit]").textContent = "Save challenge";
    set("challengeId", c.challengeId); set("name", c.name); set("description", c.description || "");
    set("goal", c.goal || "CHALLENGE_GOAL_ITEM_COUNT");
    set("target", c.goal === "CHALLENGE_GOAL_SPEND" ? (Number(c.target || 0) / 100).toFixed(2) : Number(c.target || 0));
    set("skus", (c.skus || []).join(", ")); set("categories", (c.categories || []).join(", "));
    set("startsAt", localInput(c.startsAt)); set("endsAt", localInput(c.endsAt));
    set("rewardPoints", Number(c.rewardPoints || 0) || "");
    set("status", ["CONFIG_STATUS_ACTIVE", "CONFIG_STATUS_PAUSED"].includes(c.status) ? c.status : "CONFIG_STATUS_DRAFT");
    form.elements.namedItem("name").focus();
  });
}

function challengeForm(listBox) {
  const form = h("form", { id: "challenge-form", novalidate: true },
    h("h2", { id: "challenge-form-h" }, "New challenge"),
    h("input", { type: "hidden", name: "challengeId" }),
    field("Name", "name", { field: "challenge.name", required: true, maxlength: 200 }),
    field("Description for members", "description", { field: "challenge.description" }),
    field("Goal", "goal", { options: GOALS, value: "CHALLENGE_GOAL_ITEM_COUNT", field: "challenge.goal" }),
    field("Target (units, orders, or money)", "target", { type: "number", min: "1", step: "0.01", field: "challenge.target", required: true }),
    field("Only SKUs (comma-separated)", "skus", { field: "challenge.skus" }),
    field("Only categories (comma-separated)", "categories", { field: "challenge.categories" }),
    field("Starts (UTC)", "startsAt", { type: "datetime-local", field: "challenge.starts_at", required: true }),
    field("Ends (UTC)", "endsAt", { type: "datetime-local", field: "challenge.ends_at", required: true }),
    field("Reward points", "rewardPoints", { type: "number", min: "1", step: "1", field: "challenge.reward_points", required: true }),
    field("Status", "status", { options: [["CONFIG_STATUS_DRAFT", "Draft"], ["CONFIG_STATUS_ACTIVE", "Active"], ["CONFIG_STATUS_PAUSED", "Paused"]], value: "CONFIG_STATUS_DRAFT", field: "challenge.status" }),
    formError(),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create challenge"), h("button", { type: "reset", class: "secondary" }, "Clear")));
  challengeFormEl = form;
  form.addEventListener("reset", () => setTimeout(() => {
    form.elements.namedItem("challengeId").value = ""; // reset() keeps a hidden input's value
    form.querySelector("#challenge-form-h").textContent = "New challenge";
    form.querySelector("button[type=submit]").textContent = "Create challenge";
    clearErrors(form);
  }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["name", "target", "startsAt", "endsAt", "rewardPoints"]);
    const spend = value(form, "goal") === "CHALLENGE_GOAL_SPEND";
    const t = Number(value(form, "target"));
    if (value(form, "target") && !(t > 0 && (spend || Number.isInteger(t)))) vs.push({ field: "challenge.target", description: spend ? "must be more than 0" : "must be a whole number above 0" });
    if (value(form, "startsAt") && value(form, "endsAt") && value(form, "endsAt") <= value(form, "startsAt")) vs.push({ field: "challenge.ends_at", description: "must be after the start" });
    const rp = value(form, "rewardPoints");
    if (rp && !(Number.isInteger(Number(rp)) && Number(rp) > 0)) vs.push({ field: "challenge.reward_points", description: "must be a whole number above 0" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const challenge = { name: value(form, "name"), description: value(form, "description"), goal: value(form, "goal"),
      target: String(spend ? Math.round(t * 100) : t), skus: list(value(form, "skus")), categories: list(value(form, "categories")),
      startsAt: fromLocalInput(value(form, "startsAt")), endsAt: fromLocalInput(value(form, "endsAt")), rewardPoints: String(Number(rp)), status: value(form, "status") };
    const id = value(form, "challengeId");
    if (id && !await confirmDialog("Save the changes to “" + challenge.name + "”? Members' progress is measured against the new goal from now on.", "Save challenge")) return;
    const btn = form.querySelector("button[type=submit]");
    const label0 = btn.textContent;
    btn.disabled = true; btn.textContent = id ? "Saving…" : "Creating…";
    // The mask names only the fields of the form, so the rest of the
    // challenge (a reward to issue, fields newer than this page) is kept.
    const res = id ? await patch("/v1/loyalty/challenges/" + encodeURIComponent(id), { idempotencyKey: newKey(), challenge: { ...challenge, challengeId: id }, updateMask: ["name", "description", "goal", "target", "skus", "categories", "startsAt", "endsAt", "rewardPoints", "status"].join(",") })
      : await post("/v1/loyalty/challenges", { idempotencyKey: newKey(), challenge });
    btn.disabled = false; btn.textContent = label0;
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadChallenges(listBox, (id ? "Saved “" : "Created “") + challenge.name + "”.");
  });
  return form;
}
