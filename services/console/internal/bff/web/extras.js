// Pages added to the first console: rejected referrals, segment size over
// time, the RFM grid, the segment template gallery, merchandising rules and
// A/B experiments.
import { get, post, patch, del, newKey } from "./api.js";
import { h, field, showErrors, clearErrors, formError, alertBox, notice, empty, value, checkRequired, fmtMoney, fmtTime, label, confirmDialog } from "./ui.js";
import { chart } from "./charts.js";

const table = (caption, cols, rows, attrs = {}) => h("table", attrs, h("caption", { class: "sr-only" }, caption),
  h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows));
const list = (s) => String(s || "").split(",").map((x) => x.trim()).filter(Boolean);
const pct = (v) => ((Number(v) || 0) * 100).toFixed(2) + "%";

// ---------------------------------------------------------------- referral

// rejectedReferrals lists a campaign's rejected referrals with the fraud
// decision behind each: reason, rule, description and evidence.
export async function rejectedReferrals(box, c) {
  const sec = h("section", { id: "rejected", "aria-labelledby": "rejected-h" }, h("h3", { id: "rejected-h" }, "Rejected referrals"), h("p", {}, "Loading…"));
  box.append(sec);
  const res = await get("/v1/referral/campaigns/" + encodeURIComponent(c.campaignId) + "/referrals?status=REFERRAL_STATUS_REJECTED&pageSize=100");
  sec.lastChild.remove();
  if (!res.ok) { sec.append(alertBox(res.error)); return; }
  const as = res.data.attributions || [];
  if (!as.length) { sec.append(empty("No rejected referrals. Self-referrals, shared devices or emails, velocity and budget checks appear here with their evidence when they happen.")); return; }
  sec.append(table("Rejected referrals", ["When", "Friend", "Referrer", "Reason", "Rule", "Evidence"], as.map((a) => {
    const d = a.decision || {};
    const ev = Object.entries(d.evidence || {}).map(([k, v]) => k + " = " + v).join("; ");
    return h("tr", { "data-attribution": a.attributionId },
      h("td", {}, fmtTime(d.decidedAt || a.createdAt)), h("td", {}, a.customerId || "—"), h("td", {}, a.referrerCustomerId || "—"),
      h("td", {}, label(a.rejectionReason, "REJECTION_REASON_"), d.description ? h("div", { class: "muted" }, d.description) : null),
      h("td", {}, d.rule || "—"), h("td", {}, ev || "—"));
  }), { id: "rejected-table" }));
}

// ---------------------------------------------------------------- segments

// segmentSizes draws a segment's size per day over the last 90 days.
export async function segmentSizes(box, s) {
  box.replaceChildren(h("h2", {}, "Size over time: " + s.name), h("p", {}, "Loading…"));
  const end = new Date(), start = new Date(end.getTime() - 90 * 86400e3);
  const res = await get("/v1/segments/" + encodeURIComponent(s.segmentId) + "/sizes?interval=day&startTime=" + encodeURIComponent(start.toISOString()) + "&endTime=" + encodeURIComponent(end.toISOString()));
  box.lastChild.remove();
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const ps = res.data.points || [];
  if (!ps.length) { box.append(empty("No measurements yet: the size is recorded each time the segment is evaluated (on save and then as profiles change).")); return; }
  const labels = ps.map((p) => new Date(p.periodStartTime).toISOString().slice(5, 10));
  box.append(chart({ id: "chart-segment-size", title: "Members of “" + s.name + "” per day (last 90 days)", kind: "line", labels,
    series: [{ name: "Size", values: ps.map((p) => p.size) }, { name: "Lowest", values: ps.map((p) => p.minSize) }, { name: "Highest", values: ps.map((p) => p.maxSize) }] }));
}

// templateGallery shows the service's ready-made segments; "Create" saves
// one as a segment. It returns the templates, or null when they could not
// be read.
export async function templateGallery(box, onCreated) {
  const res = await get("/v1/segment-templates");
  box.replaceChildren(h("h2", { id: "templates-h" }, "Ready-made segments"));
  if (!res.ok) { box.append(alertBox(res.error)); return null; }
  const ts = res.data.templates || [];
  if (!ts.length) { box.append(empty("This service offers no templates.")); return ts; }
  box.append(h("div", { class: "gallery" }, ts.map((t) => {
    const btn = h("button", { type: "button", "aria-label": "Create segment from " + t.name }, "Create segment");
    btn.addEventListener("click", async () => {
      btn.disabled = true; btn.textContent = "Creating…";
      const r = await post("/v1/segment-templates/" + encodeURIComponent(t.templateId) + ":instantiate", { idempotencyKey: newKey(), name: t.name });
      btn.disabled = false; btn.textContent = "Create segment";
      if (!r.ok) { art.append(alertBox(r.error)); return; }
      await onCreated(r.data.segment && r.data.segment.name);
    });
    const art = h("article", { "data-template": t.templateId }, h("h3", {}, t.name), h("p", {}, t.description || ""), h("code", {}, t.rule), btn);
    return art;
  })));
  return ts;
}

// GROUP_NAMES maps the RFM group enum to the names used in rules.
const GROUP_NAMES = {
  RFM_GROUP_CHAMPIONS: "Champions", RFM_GROUP_LOYAL: "Loyal", RFM_GROUP_POTENTIAL_LOYALIST: "Potential Loyalist", RFM_GROUP_NEW: "New",
  RFM_GROUP_PROMISING: "Promising", RFM_GROUP_NEED_ATTENTION: "Need Attention", RFM_GROUP_ABOUT_TO_SLEEP: "About to Sleep", RFM_GROUP_AT_RISK: "At Risk",
  RFM_GROUP_CANT_LOSE_THEM: "Can't Lose Them", RFM_GROUP_HIBERNATING: "Hibernating", RFM_GROUP_LOST: "Lost",
};

export async function rfmPage(main, heading) {
  const box = h("section", { id: "rfm", "aria-live": "polite" });
  const btn = h("button", { type: "button", id: "rfm-recompute", class: "secondary" }, "Score the population now");
  main.append(heading("RFM grid"),
    h("p", {}, "Customers scored 1 to 5 on recency (how lately they bought), frequency (how often) and monetary value (how much), by population quintiles. Scoring runs daily; “Score now” runs it at once."),
    btn, box);
  btn.addEventListener("click", async () => {
    btn.disabled = true; btn.textContent = "Scoring the population…";
    const r = await post("/v1/rfm:recompute", { idempotencyKey: newKey() });
    btn.disabled = false; btn.textContent = "Score the population now";
    if (!r.ok) { box.prepend(alertBox(r.error)); return; }
    await loadRfm(box, "Scored " + Number(r.data.population || 0) + " customers.");
  });
  await loadRfm(box);
}

async function loadRfm(box, msg) {
  const res = await get("/v1/rfm/grid");
  box.replaceChildren();
  if (msg) box.append(notice(msg));
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const g = res.data;
  if (!Number(g.population)) { box.append(empty("No customers are scored yet. Import orders (make demo), then press “Score the population now”.")); box.dataset.loaded = "true"; return; }
  const cells = {};
  let max = 1;
  for (const c of g.cells || []) { cells[c.recency + ":" + c.frequency] = c; max = Math.max(max, Number(c.customers || 0)); }
  const rows = [];
  for (let f = 5; f >= 1; f--) {
    rows.push(h("tr", {}, h("th", { scope: "row" }, "F" + f), [1, 2, 3, 4, 5].map((r) => {
      const c = cells[r + ":" + f] || { customers: 0 };
      const n = Number(c.customers || 0);
      const step = n === 0 ? 0 : Math.min(5, 1 + Math.floor(4 * n / max + 0.5));
      return h("td", { class: "heat-" + step, "data-r": r, "data-f": f, title: "Recency " + r + ", frequency " + f },
        n.toLocaleString("en"), c.averageMonetary && n ? h("span", { class: "rfm-group" }, "avg " + fmtMoney(c.averageMonetary)) : null);
    })));
  }
  box.append(h("p", {}, Number(g.population).toLocaleString("en") + " customers, scored " + fmtTime(g.scoredAt) + "."),
    h("div", { class: "grid" },
      h("section", {}, h("h2", {}, "Recency × frequency"),
        h("table", { class: "rfm", id: "rfm-grid" }, h("caption", { class: "sr-only" }, "Customers per recency (columns, 5 = most recent) and frequency (rows, 5 = most frequent) score"),
          h("thead", {}, h("tr", {}, h("td", {}), [1, 2, 3, 4, 5].map((r) => h("th", { scope: "col" }, "R" + r)))), h("tbody", {}, rows)),
        h("p", { class: "muted" }, "Darker cells hold more customers. Top right: recent and frequent buyers; bottom left: lapsed one-time buyers.")),
      h("section", {}, h("h2", {}, "Named groups"),
        table("RFM groups", ["Group", "Customers", "Share"], (g.groups || []).map((x) => h("tr", { "data-group": x.group },
          h("td", {}, GROUP_NAMES[x.group] || label(x.group, "RFM_GROUP_")), h("td", {}, Number(x.customers || 0).toLocaleString("en")),
          h("td", {}, (100 * Number(x.customers || 0) / Number(g.population)).toFixed(1) + "%"))), { id: "rfm-groups" }),
        h("p", { class: "muted" }, "Groups combine recency with the mean of frequency and monetary scores. Use them in segment rules: in_rfm_group(\"Champions\")."))));
  box.dataset.loaded = "true";
}

// ---------------------------------------------------------------- merchandising

const PLACEMENTS = [["PLACEMENT_HOME", "Home"], ["PLACEMENT_PRODUCT_PAGE", "Product page"], ["PLACEMENT_CART", "Cart"], ["PLACEMENT_CHECKOUT", "Checkout"], ["PLACEMENT_ORDER_CONFIRMATION", "Order confirmation"], ["PLACEMENT_EMAIL", "Email"]];
const STRATEGIES = [["STRATEGY_CROSS_SELL", "Cross-sell"], ["STRATEGY_UPSELL", "Upsell"], ["STRATEGY_PERSONALIZED", "Personalized"], ["STRATEGY_BUY_AGAIN", "Buy again"], ["STRATEGY_CART_TOP_UP", "Cart top-up"], ["STRATEGY_TRENDING", "Trending"]];

export async function merchandisingPage(main, heading) {
  const listBox = h("section", { id: "merch", "aria-live": "polite" }, h("h2", {}, "Rules"));
  const form = h("form", { id: "merch-form", novalidate: true },
    h("h2", {}, "New merchandising rule"),
    field("Name", "name", { field: "rule.name", required: true, maxlength: 200 }),
    field("Kind", "kind", { options: [["MERCHANDISING_RULE_KIND_BOOST", "Boost products or categories"], ["MERCHANDISING_RULE_KIND_MARGIN_BOOST", "Favour high-margin products"]], value: "MERCHANDISING_RULE_KIND_BOOST", field: "rule.kind" }),
    field("Products (comma-separated ids)", "productIds", { field: "rule.product_ids" }),
    field("Categories (comma-separated)", "categories", { field: "rule.categories" }),
    field("Multiplier (boost)", "multiplier", { type: "number", min: "0", step: "0.1", value: "1.5", field: "rule.multiplier" }, "1.5 = scores of matching products × 1.5; below 1 buries them."),
    field("Margin weight (margin boost)", "marginWeight", { type: "number", min: "0", max: "1", step: "0.05", value: "0.3", field: "rule.margin_weight" }),
    field("Only for segment (id, optional)", "segmentId", { field: "rule.segment_id" }),
    field("Only for tier (id, optional)", "tierId", { field: "rule.tier_id" }),
    field("Starts (UTC, optional)", "start", { type: "datetime-local", field: "rule.start_time" }),
    field("Ends (UTC, optional)", "end", { type: "datetime-local", field: "rule.end_time" }),
    formError(),
    h("button", { type: "submit" }, "Create rule"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vs = checkRequired(form, ["name"]);
    const boost = value(form, "kind") === "MERCHANDISING_RULE_KIND_BOOST";
    if (boost && !list(value(form, "productIds")).length && !list(value(form, "categories")).length) vs.push({ field: "rule.product_ids", description: "name products or categories to boost" });
    if (boost && !(Number(value(form, "multiplier")) >= 0)) vs.push({ field: "rule.multiplier", description: "must be a number of at least 0" });
    if (!boost && !(Number(value(form, "marginWeight")) > 0 && Number(value(form, "marginWeight")) <= 1)) vs.push({ field: "rule.margin_weight", description: "must be above 0 and at most 1" });
    if (value(form, "start") && value(form, "end") && value(form, "end") <= value(form, "start")) vs.push({ field: "rule.end_time", description: "must be after the start" });
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const rule = { name: value(form, "name"), kind: value(form, "kind"), productIds: list(value(form, "productIds")), categories: list(value(form, "categories")), segmentId: value(form, "segmentId"), tierId: value(form, "tierId") };
    if (boost) rule.multiplier = Number(value(form, "multiplier")); else rule.marginWeight = Number(value(form, "marginWeight"));
    if (value(form, "start")) rule.startTime = new Date(value(form, "start") + ":00Z").toISOString();
    if (value(form, "end")) rule.endTime = new Date(value(form, "end") + ":00Z").toISOString();
    const res = await post("/v1/recommendations/rules", { idempotencyKey: newKey(), rule });
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadMerch(listBox, "Created “" + rule.name + "”.");
  });
  main.append(heading("Merchandising"), h("p", {}, "Rules adjust what every strategy returns: boost products or categories (for a segment or tier, for a time), or favour high-margin items."), listBox, form);
  await loadMerch(listBox);
}

async function loadMerch(box, msg) {
  const res = await get("/v1/recommendations/rules?pageSize=200");
  box.replaceChildren(h("h2", {}, "Rules"));
  if (msg) box.append(notice(msg));
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const rs = res.data.rules || [];
  if (!rs.length) { box.append(empty("No merchandising rules: recommendations are ranked by the strategies alone. Add a boost below.")); box.dataset.loaded = "true"; return; }
  box.append(table("Merchandising rules", ["Name", "Effect", "Applies to", "Who", "When", "State", ""], rs.map((r) => {
    const toggle = async () => {
      if (!r.paused && !await confirmDialog("Pause “" + r.name + "”? Recommendations stop applying it until you resume it.", "Pause")) return;
      const u = await patch("/v1/recommendations/rules/" + encodeURIComponent(r.ruleId), { idempotencyKey: newKey(), rule: { ruleId: r.ruleId, paused: !r.paused }, updateMask: "paused" });
      if (!u.ok) { box.append(alertBox(u.error)); return; }
      await loadMerch(box, "“" + r.name + "” is " + (r.paused ? "active again." : "paused."));
    };
    const remove = async () => {
      if (!await confirmDialog("Delete “" + r.name + "”? This cannot be undone.", "Delete")) return;
      const u = await del("/v1/recommendations/rules/" + encodeURIComponent(r.ruleId) + "?idempotencyKey=" + encodeURIComponent(newKey()));
      if (!u.ok) { box.append(alertBox(u.error)); return; }
      await loadMerch(box, "Deleted “" + r.name + "”.");
    };
    return h("tr", { "data-merch": r.ruleId },
      h("td", {}, r.name),
      h("td", {}, r.kind === "MERCHANDISING_RULE_KIND_MARGIN_BOOST" ? "margin weight " + Number(r.marginWeight || 0) : "× " + Number(r.multiplier || 0)),
      h("td", {}, [...(r.productIds || []), ...(r.categories || [])].join(", ") || "all products"),
      h("td", {}, [r.segmentId ? "segment " + r.segmentId : "", r.tierId ? "tier " + r.tierId : ""].filter(Boolean).join(", ") || "everyone"),
      h("td", {}, r.startTime || r.endTime ? (r.startTime ? fmtTime(r.startTime) : "now") + " → " + (r.endTime ? fmtTime(r.endTime) : "open-ended") : "always"),
      h("td", { class: "status" }, r.paused ? "Paused" : "Active"),
      h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": (r.paused ? "Resume " : "Pause ") + r.name, onclick: toggle }, r.paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "secondary", "aria-label": "Delete " + r.name, onclick: remove }, "Delete")));
  })));
  box.dataset.loaded = "true";
}

// ---------------------------------------------------------------- experiments

function variantRow(i, name, strategy, weight) {
  return h("fieldset", { class: "variant", "data-variant": i }, h("legend", {}, "Variant " + (i + 1)),
    field("Name", "vname" + i, { value: name, field: "experiment.variants[" + i + "].name", required: true }),
    field("Strategy", "vstrategy" + i, { options: STRATEGIES, value: strategy, field: "experiment.variants[" + i + "].strategy" }),
    field("Weight", "vweight" + i, { type: "number", min: "1", max: "100", step: "1", value: String(weight), field: "experiment.variants[" + i + "].weight" }));
}

export async function experimentsPage(main, heading) {
  const listBox = h("section", { id: "experiments", "aria-live": "polite" }, h("h2", {}, "Experiments"));
  const results = h("section", { id: "results", "aria-live": "polite" });
  const variants = h("div", { id: "variants" }, variantRow(0, "control", "STRATEGY_CROSS_SELL", 50), variantRow(1, "treatment", "STRATEGY_PERSONALIZED", 50));
  const form = h("form", { id: "experiment-form", novalidate: true },
    h("h2", {}, "New A/B experiment"),
    field("Name", "name", { field: "experiment.name", required: true, maxlength: 200 }),
    field("Placement", "placement", { options: PLACEMENTS, value: "PLACEMENT_PRODUCT_PAGE", field: "experiment.placement" }),
    variants,
    h("button", { type: "button", class: "secondary", id: "add-variant" }, "Add a variant"),
    formError(),
    h("button", { type: "submit" }, "Create experiment (draft)"));
  form.querySelector("#add-variant").addEventListener("click", () => {
    const n = variants.children.length;
    if (n >= 5) return;
    variants.append(variantRow(n, "variant-" + (n + 1), "STRATEGY_TRENDING", 25));
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = variants.children.length;
    const vs = checkRequired(form, ["name", ...[...Array(n).keys()].map((i) => "vname" + i)]);
    const names = new Set();
    for (let i = 0; i < n; i++) {
      const nm = value(form, "vname" + i), w = Number(value(form, "vweight" + i));
      if (nm && names.has(nm)) vs.push({ field: "experiment.variants[" + i + "].name", description: "must differ from the other variants" });
      names.add(nm);
      if (!(Number.isInteger(w) && w >= 1 && w <= 100)) vs.push({ field: "experiment.variants[" + i + "].weight", description: "must be a whole number from 1 to 100" });
    }
    if (vs.length) { showErrors(form, { message: "fix the marked fields", violations: vs }); return; }
    clearErrors(form);
    const experiment = { name: value(form, "name"), placement: value(form, "placement"),
      variants: [...Array(n).keys()].map((i) => ({ name: value(form, "vname" + i), strategy: value(form, "vstrategy" + i), weight: Number(value(form, "vweight" + i)) })) };
    const res = await post("/v1/recommendations/experiments", { idempotencyKey: newKey(), experiment });
    if (!res.ok) { showErrors(form, res.error); return; }
    form.reset();
    await loadExperiments(listBox, results, "Created “" + experiment.name + "” as a draft. Start it to assign customers to its variants.");
  });
  main.append(heading("Experiments"), h("p", {}, "Split a placement's traffic between strategies and compare click-through and conversion per variant."), listBox, results, form);
  await loadExperiments(listBox, results);
}

async function loadExperiments(box, results, msg) {
  const res = await get("/v1/recommendations/experiments?pageSize=100");
  box.replaceChildren(h("h2", {}, "Experiments"));
  if (msg) box.append(notice(msg));
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const xs = res.data.experiments || [];
  if (!xs.length) { box.append(empty("No experiments yet. Create one below: e.g. cross-sell against personalized on the product page.")); box.dataset.loaded = "true"; return; }
  box.append(table("Experiments", ["Name", "Placement", "Variants", "State", "Since", ""], xs.map((x) => {
    const st = x.state || "EXPERIMENT_STATE_DRAFT";
    const setState = async (to) => {
      if (to === "EXPERIMENT_STATE_STOPPED" && !await confirmDialog("Stop “" + x.name + "”? Customers stop being assigned; results stay readable.", "Stop")) return;
      const u = await patch("/v1/recommendations/experiments/" + encodeURIComponent(x.experimentId), { idempotencyKey: newKey(), experiment: { experimentId: x.experimentId, state: to }, updateMask: "state" });
      if (!u.ok) { box.append(alertBox(u.error)); return; }
      await loadExperiments(box, results, "“" + x.name + "” is " + label(to, "EXPERIMENT_STATE_").toLowerCase() + ".");
    };
    return h("tr", { "data-experiment": x.experimentId },
      h("td", {}, x.name), h("td", {}, label(x.placement, "PLACEMENT_")),
      h("td", {}, (x.variants || []).map((v) => v.name + " (" + label(v.strategy, "STRATEGY_") + ", " + (v.weight || 0) + ")").join("; ")),
      h("td", { class: "status" }, label(st, "EXPERIMENT_STATE_")), h("td", {}, fmtTime(x.startTime)),
      h("td", {},
        st !== "EXPERIMENT_STATE_RUNNING" && !x.managedByEnvironment ? h("button", { type: "button", "aria-label": "Start " + x.name, onclick: () => setState("EXPERIMENT_STATE_RUNNING") }, "Start") : null,
        st === "EXPERIMENT_STATE_RUNNING" && !x.managedByEnvironment ? h("button", { type: "button", class: "secondary", "aria-label": "Stop " + x.name, onclick: () => setState("EXPERIMENT_STATE_STOPPED") }, "Stop") : null,
        h("button", { type: "button", class: "secondary", "aria-label": "Results of " + x.name, onclick: () => showResults(results, x) }, "Results")));
  })));
  box.dataset.loaded = "true";
}

async function showResults(box, x) {
  box.replaceChildren(h("h2", {}, "Results: " + x.name), h("p", {}, "Loading…"));
  const res = await get("/v1/experiments/" + encodeURIComponent(x.experimentId) + "/results");
  box.lastChild.remove();
  if (!res.ok) { box.append(alertBox(res.error)); return; }
  const vs = res.data.variants || [];
  if (!vs.length || !vs.some((v) => Number(v.impressions))) {
    box.append(empty("No impressions yet. Once the experiment runs, storefronts that ask for recommendations at its placement are split between its variants; clicks and orders are reported with POST /v1/recommendations/feedback."));
  }
  if (vs.length) {
    const seen = vs.some((v) => Number(v.impressions));
    box.append(table("Results per variant", ["Variant", "Impressions", "Clicks", "Conversions", "CTR", "Conversion rate", "CTR lift", "p-value"], vs.map((v) => h("tr", { "data-variant-result": v.variant },
      h("td", {}, v.variant), h("td", {}, Number(v.impressions || 0)), h("td", {}, Number(v.clicks || 0)), h("td", {}, Number(v.conversions || 0)),
      h("td", {}, pct(v.ctr)), h("td", {}, pct(v.conversionRate)), h("td", {}, v.ctrLift ? pct(v.ctrLift) : "—"),
      h("td", {}, seen && v.pValue !== undefined ? Number(v.pValue).toFixed(3) + (v.significant ? " (significant)" : "") : "—"))), { id: "results-table" }),
    );
    if (seen) box.append(chart({ id: "chart-experiment", title: "CTR and conversion rate per variant", unit: "%", labels: vs.map((v) => v.variant), series: [{ name: "CTR", values: vs.map((v) => v.ctr || 0) }, { name: "Conversion rate", values: vs.map((v) => v.conversionRate || 0) }] }));
  }
  box.dataset.loaded = "true";
}
