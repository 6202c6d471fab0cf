// Small DOM helpers shared by the console and the storefront demo. Values are
// always set as text, never as HTML, so data from the API cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// field renders a labelled input; data-field names the request field the
// server's BadRequest violations refer to.
export function field(label, name, attrs = {}, hint) {
  const id = "f-" + name.replace(/[^a-z0-9]+/gi, "-");
  const input = attrs.options
    ? h("select", { id, name, "data-field": attrs.field || name, "aria-describedby": id + "-err" },
        attrs.options.map(([v, t]) => h("option", { value: v, selected: v === attrs.value }, t)))
    : h(attrs.multiline ? "textarea" : "input", { id, name, "data-field": attrs.field || name, "aria-describedby": id + "-err", ...withoutMeta(attrs) });
  if (attrs.multiline && attrs.value) input.value = attrs.value;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { class: "hint" }, hint) : null,
    h("div", { class: "field-error", id: id + "-err", role: "alert" }));
}

function withoutMeta(attrs) {
  const out = { ...attrs };
  delete out.options; delete out.multiline; delete out.field;
  if (attrs.multiline) delete out.value;
  return out;
}

// snake normalises a field path so "campaign.friendReward" and
// "campaign.friend_reward" match.
export function snake(s) {
  return String(s).replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-error");
  if (box) { box.textContent = ""; box.hidden = true; }
}

// showErrors puts each violation under its input (the longest matching
// data-field prefix) and the rest, with the message, in the form's alert.
export function showErrors(form, error, prefix = "") {
  clearErrors(form);
  const inputs = [...form.querySelectorAll("[data-field]")];
  const unmatched = [];
  for (const v of error.violations || []) {
    const f = snake(v.field);
    let best = null;
    for (const el of inputs) {
      const name = snake(prefix + el.dataset.field);
      if ((f === name || f.startsWith(name + ".") || f.startsWith(name + "[")) && (!best || name.length > snake(prefix + best.dataset.field).length)) best = el;
    }
    if (best) {
      best.setAttribute("aria-invalid", "true");
      const err = document.getElementById(best.getAttribute("aria-describedby"));
      err.textContent = (err.textContent ? err.textContent + " " : "") + v.description;
    } else {
      unmatched.push(v.field + ": " + v.description);
    }
  }
  const box = form.querySelector(".form-error");
  if (box) {
    box.hidden = false;
    // With field violations the fields say what is wrong; repeating the
    // whole server message would say it twice.
    const n = (error.violations || []).length;
    box.textContent = (n ? "Please fix the marked field" + (n - unmatched.length === 1 ? "" : "s") + "." : describe(error)) + (unmatched.length ? " " + unmatched.join("; ") : "");
  }
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

// describe turns a google.rpc.Status into one sentence a marketer can act on.
export function describe(error) {
  const hints = {
    16: "Your token was refused (expired or wrong). Sign out and paste a new one.",
    7: "Your role may not do this.",
    12: "The service does not offer this yet.",
    14: "The platform did not answer; is it running?",
  };
  return (hints[error.code] ? hints[error.code] + " " : "") + "Server said: " + error.message;
}

export function formError() {
  return h("div", { class: "form-error", role: "alert", hidden: true });
}

export function alertBox(error) {
  return h("div", { class: "form-error", role: "alert" }, describe(error));
}

export function notice(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function value(form, name) {
  const el = form.elements.namedItem(name);
  return el ? el.value.trim() : "";
}

// require marks empty required inputs before anything is sent.
export function checkRequired(form, names) {
  const vs = [];
  for (const n of names) if (!value(form, n)) vs.push({ field: form.elements.namedItem(n).dataset.field, description: "is required" });
  return vs;
}

export function fmtMoney(m) {
  if (!m || m.amountMinor === undefined) return "—";
  return (Number(m.amountMinor) / 100).toFixed(2) + " " + (m.currency || "");
}

export function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d) ? t : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function label(enumName, prefix) {
  if (!enumName) return "—";
  const s = String(enumName).replace(prefix, "").toLowerCase().replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// confirmDialog asks before an action that cannot be undone, in a modal
// <dialog> (keyboard: Tab between the buttons, Escape cancels).
export function confirmDialog(text, okText = "Confirm") {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", id: "confirm-ok" }, okText);
    const cancel = h("button", { type: "button", class: "secondary", id: "confirm-cancel" }, "Cancel");
    const dlg = h("dialog", { "aria-labelledby": "confirm-text", class: "confirm" }, h("p", { id: "confirm-text" }, text), h("div", { class: "buttons" }, cancel, ok));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}
