// Overview: the program's health at a glance. Customer figures come from
// segmentation (GetPopulationStats), points flows and liability from loyalty
// (GetPointsReport, one call per month), referral conversions from each
// campaign's funnel (GetCampaignStats).
import { get } from "./api.js";
import { h, alertBox, empty, fmtMoney, field, value, showErrors, clearErrors, formError } from "./ui.js";
import { chart, monthLabel, months } from "./charts.js";

const pct = (v) => ((Number(v) || 0) * 100).toFixed(1) + "%";
const num = (v) => (Number(v) || 0).toLocaleString("en");

function card(id, label, value, note) {
  return h("div", { id }, h("dt", {}, label), h("dd", {}, value), note ? h("small", { class: "muted" }, note) : null);
}

export async function overviewPage(main, heading) {
  const now = new Date();
  const thisMonth = now.toISOString().slice(0, 7);
  const form = h("form", { id: "window", novalidate: true, class: "inline" },
    field("Months", "months", { options: [["3", "3 months"], ["6", "6 months"], ["12", "12 months"], ["24", "24 months"]], value: "6", field: "months" }),
    field("Up to and including", "until", { type: "month", value: thisMonth, max: thisMonth, field: "until" }, "Pick an earlier month to look at a past period."),
    formError(),
    h("button", { type: "submit" }, "Show"));
  const body = h("div", { id: "overview", "aria-live": "polite" });
  main.append(heading("Overview"), h("p", {}, "Members, activity, points and referrals per calendar month (UTC). Every chart has its numbers under “Show the numbers”."), form, body);
  const load = () => {
    const until = value(form, "until") || thisMonth;
    if (!/^\d{4}-\d{2}$/.test(until) || until > thisMonth) { showErrors(form, { message: "pick a month", violations: [{ field: "until", description: "must be a month up to " + thisMonth }] }); return; }
    clearErrors(form);
    const [y, m] = until.split("-").map(Number);
    return renderOverview(body, Number(value(form, "months")), new Date(Date.UTC(y, m - 1, 15)));
  };
  form.elements.namedItem("months").addEventListener("change", load);
  form.elements.namedItem("until").addEventListener("change", load);
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  await load();
}

async function renderOverview(body, n, until) {
  const prog = h("progress", { id: "referral-progress", "aria-label": "Referral campaigns summed", max: "1", value: "0" });
  const progText = h("span", {}, "listing campaigns…");
  body.replaceChildren(h("p", {}, "Loading…"), h("p", { role: "status" }, "Referral conversions: ", prog, " ", progText));
  delete body.dataset.loaded;
  const bounds = months(n, until);
  const q = (a, b) => "startTime=" + encodeURIComponent(a.toISOString()) + "&endTime=" + encodeURIComponent(b.toISOString());
  const popP = get("/v1/population/stats?" + q(bounds[0], bounds[n]) + "&interval=month");
  // Flows per month; the liability is always as of now, whatever the window.
  const pointsP = Promise.all(bounds.slice(0, n).map((b, i) => get("/v1/loyalty/reports/points?" + q(b, bounds[i + 1] < new Date() ? bounds[i + 1] : new Date()))));
  const refP = referralConversions((done, total, more) => {
    prog.max = String(Math.max(total, 1)); prog.value = String(done);
    progText.textContent = more ? total + " campaigns listed, more to come…" : done + " of " + total + " campaigns";
  });
  // A newer window asked for while this one loaded wins.
  const gen = (body.gen = (body.gen || 0) + 1);
  const [pop, points, ref] = await Promise.all([popP, pointsP, refP]);
  if (gen !== body.gen) return;
  body.replaceChildren();
  const labels = bounds.slice(0, n).map(monthLabel);

  // Headline figures.
  const cards = h("dl", { class: "cards", id: "headline" });
  body.append(cards);
  const charts = h("div", { class: "charts" });
  if (pop.ok) {
    const t = pop.data.totals || {};
    cards.append(card("members", "Members", num(t.customers)),
      card("active", "Active in 30 days", num(t.activeCustomers30d)),
      card("repeat", "Repeat-purchase rate", pct(t.repeatPurchaseRate), "buyers with 2+ orders"),
      card("aov", "Average order value", fmtMoney(t.averageOrderValue)));
  }
  const pointsOK = points.every((r) => r.ok);
  if (pointsOK) {
    const last = points[points.length - 1].data;
    cards.append(card("liability", "Outstanding points", num(last.outstandingPoints), "worth " + fmtMoney(last.outstandingValue) + " (liability)"));
  }
  if (ref.ok) cards.append(card("conversions", "Referral conversions", num(ref.total), ref.campaigns.length + " campaign" + (ref.campaigns.length === 1 ? "" : "s")));

  // Customers.
  const sec1 = h("section", { "aria-labelledby": "customers-h" }, h("h2", { id: "customers-h" }, "Customers"));
  body.append(sec1);
  if (!pop.ok) sec1.append(alertBox(pop.error));
  else if (!Number((pop.data.totals || {}).customers)) sec1.append(empty("No customers yet. Import the demo orders (make demo) or send orders to commerce.orders.v1: members, retention and order value appear here as orders arrive."));
  else {
    const ps = pop.data.periods || [];
    const pl = ps.map((p) => monthLabel(p.periodStartTime));
    sec1.append(h("div", { class: "charts" },
      chart({ id: "chart-customers", title: "Customers at the end of each month and new customers", labels: pl, series: [{ name: "Customers", values: ps.map((p) => p.customersAtEnd) }, { name: "New", values: ps.map((p) => p.newCustomers) }] }),
      chart({ id: "chart-retention", title: "Retention rate per month", kind: "line", unit: "%", labels: pl, series: [{ name: "Retention", values: ps.map((p) => p.retentionRate) }] }),
      chart({ id: "chart-repeat", title: "Repeat-purchase rate per month", kind: "line", unit: "%", labels: pl, series: [{ name: "Repeat purchase", values: ps.map((p) => p.repeatPurchaseRate) }] }),
      chart({ id: "chart-aov", title: "Average order value per month" + (ps[0] && ps[0].averageOrderValue ? " (" + ps[0].averageOrderValue.currency + ")" : ""), kind: "line", labels: pl, series: [{ name: "AOV", values: ps.map((p) => (p.averageOrderValue ? Number(p.averageOrderValue.amountMinor || 0) / 100 : 0)) }] }),
      chart({ id: "chart-active", title: "Active customers per month", labels: pl, series: [{ name: "Active", values: ps.map((p) => p.activeCustomers) }] })));
    sec1.append(h("p", { class: "muted" }, "Retention = (customers at the end − customers gained) ÷ customers at the start of the month."));
  }

  // Points.
  const sec2 = h("section", { "aria-labelledby": "points-h" }, h("h2", { id: "points-h" }, "Points"));
  body.append(sec2);
  if (!pointsOK) sec2.append(alertBox(points.find((r) => !r.ok).error));
  else {
    const rs = points.map((r) => r.data);
    const any = rs.some((r) => Number(r.issuedPoints) || Number(r.redeemedPoints) || Number(r.expiredPoints));
    if (!any) sec2.append(empty("No points moved in this period. Points are issued when members order (or by manual adjustments on the Loyalty page)."));
    else sec2.append(h("div", { class: "charts" },
      chart({ id: "chart-points", title: "Points issued, redeemed and expired per month", labels, series: [{ name: "Issued", values: rs.map((r) => r.issuedPoints) }, { name: "Redeemed", values: rs.map((r) => r.redeemedPoints) }, { name: "Expired", values: rs.map((r) => r.expiredPoints) }] })));
    const last = rs[rs.length - 1];
    sec2.append(h("p", {}, "Outstanding liability now: " + num(last.outstandingPoints) + " points (" + num(last.availablePoints) + " available, " + num(last.pendingPoints) + " pending, " + num(last.heldPoints) + " held), worth " + fmtMoney(last.outstandingValue) + "; " + num(last.membersWithPoints) + " members hold points."));
  }

  // Referral.
  const sec3 = h("section", { "aria-labelledby": "ref-h" }, h("h2", { id: "ref-h" }, "Referral conversions"));
  body.append(sec3);
  if (!ref.ok) sec3.append(alertBox(ref.error));
  else if (!ref.campaigns.length) sec3.append(empty("No referral campaigns yet. Create one on the Referral page from the “Give 10, get 10” template."));
  else {
    // The chart shows the 20 campaigns with the most conversions; the total
    // above counts every campaign.
    const top = [...ref.campaigns].sort((a, b) => b.conversions - a.conversions || b.signups - a.signups).slice(0, 20);
    sec3.append(h("div", { class: "charts" }, chart({ id: "chart-referral", title: "Conversions and sign-ups per campaign (all time" + (top.length < ref.campaigns.length ? ", the " + top.length + " of " + ref.campaigns.length + " campaigns with the most conversions" : "") + ")", labels: top.map((c) => c.name), series: [{ name: "Sign-ups", values: top.map((c) => c.signups) }, { name: "Conversions", values: top.map((c) => c.conversions) }] })));
  }
  body.dataset.loaded = "true";
}

// referralConversions pages through every campaign (ListCampaigns page
// tokens) and sums their funnels (GetCampaignStats), a few calls at a time;
// progress(done, total) reports how far it got, for programs with many
// campaigns.
export async function referralConversions(progress = () => {}) {
  const cs = [];
  let token = "";
  do {
    const res = await get("/v1/referral/campaigns?pageSize=200" + (token ? "&pageToken=" + encodeURIComponent(token) : ""));
    if (!res.ok) return { ok: false, error: res.error };
    cs.push(...(res.data.campaigns || []));
    token = res.data.nextPageToken || "";
    progress(0, cs.length, !!token);
  } while (token);
  const stats = new Array(cs.length);
  let next = 0, done = 0, failed = null;
  // Six at a time: the browser's limit per origin, so the rest of the
  // overview's calls are not starved.
  const worker = async () => {
    while (next < cs.length && !failed) {
      const i = next++;
      const r = await get("/v1/referral/campaigns/" + encodeURIComponent(cs[i].campaignId) + "/stats");
      if (!r.ok) { failed = r.error; return; }
      stats[i] = r.data.stats || {};
      progress(++done, cs.length, false);
    }
  };
  await Promise.all(Array.from({ length: Math.min(6, cs.length) }, worker));
  if (failed) return { ok: false, error: failed };
  const campaigns = cs.map((c, i) => ({ name: c.name, signups: Number(stats[i].signups || 0), conversions: Number(stats[i].conversions || 0) }));
  return { ok: true, campaigns, total: campaigns.reduce((a, c) => a + c.conversions, 0) };
}
