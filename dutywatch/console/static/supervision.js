// Supervision (督办): the signed-in unit's open assignments and the person's chase list, with
// each assignment's next steps one click away (feedback and send-back ask for their text).
import { api, data, formatDuration, formatTime, h, registerMessages, route, state, t, toast } from "./app.js";

/** Which list offers which steps: the unit carries an assignment out, the supervisor checks. */
const UNIT_STEPS = ["accept", "start", "report"];
const SUPERVISOR_STEPS = ["verify", "send_back", "close"];
/** The URL verb of each step (the API's names; "report" is the unit's 反馈). */
const VERB = { accept: "accept", start: "start", report: "feedback", verify: "verify", send_back: "send-back", close: "close" };
/** A send-back restarts the unit's clock: by default a day from now. */
const SEND_BACK_DAYS = 1;

function dueCell(assignment) {
  const seconds = (new Date(assignment.due_at) - Date.now()) / 1000;
  const text = assignment.overdue
    ? t("sup.overdue", { by: formatDuration(-seconds) })
    : t("sup.due_in", { in: formatDuration(seconds) });
  return h(
    "td",
    {},
    h("time", { datetime: assignment.due_at }, formatTime(assignment.due_at)),
    h("br"),
    h("span", { class: assignment.overdue ? "late" : "muted" }, text),
  );
}

function stepForm(assignment, step, done) {
  const id = `sup-${assignment.id}-${step}`;
  const text = h("textarea", { id, rows: 2, required: true });
  const form = h(
    "form",
    { class: "sup-form" },
    h("label", { for: id }, t(step === "send_back" ? "sup.reason" : "sup.feedback_text")),
    text,
    h("button", { type: "submit", class: "primary" }, t(`sup.step.${step}`)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = step === "send_back" ? { reason: text.value } : { text: text.value };
    if (step === "send_back") {
      body.due_at = new Date(Date.now() + SEND_BACK_DAYS * 86400 * 1000).toISOString();
    }
    await act(assignment, step, body, done);
  });
  return form;
}

async function act(assignment, step, body, done) {
  try {
    const changed = await api(`/api/v1/assignments/${assignment.id}/${VERB[step]}`, {
      method: "POST",
      body,
    });
    toast(t("sup.done", { id: assignment.id, state: t(`sup.state.${changed.state ?? "assigned"}`) }));
    done();
  } catch (error) {
    toast(t("sup.failed", { reason: error.message }), "error");
  }
}

function table(assignments, steps, done, caption) {
  if (!assignments.length) return h("p", { class: "muted" }, t("sup.none"));
  const rows = assignments.map((a) => {
    const actions = h("td", { class: "sup-actions" });
    for (const step of a.allowed.filter((s) => steps.includes(s))) {
      const needsText = step === "report" || step === "send_back";
      actions.append(
        h(
          "button",
          {
            type: "button",
            dataset: { step, assignment: String(a.id) },
            onclick: (event) => {
              if (!needsText) return act(a, step, {}, done);
              event.currentTarget.replaceWith(stepForm(a, step, done));
              return undefined;
            },
          },
          t(`sup.step.${step}`),
        ),
      );
    }
    return h(
      "tr",
      { dataset: { assignment: String(a.id) }, class: a.overdue ? "sup-overdue" : null },
      h("td", {}, data(a.instruction, "span", { class: "sup-text" }), a.incident_id
        ? h("div", {}, h("a", { href: `#/incident/${a.incident_id}` }, t("sup.incident", { id: a.incident_id })))
        : null),
      h("td", {}, data(a.unit), h("br"), data(a.responsible, "span", { class: "muted" })),
      h("td", {}, data(a.supervisor)),
      h("td", { dataset: { state: a.state } }, t(`sup.state.${a.state}`),
        a.reminders ? h("div", { class: "muted" }, t("sup.reminders", { n: a.reminders })) : null),
      dueCell(a),
      actions,
    );
  });
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ["text", "unit", "supervisor", "state", "due", "actions"].map((c) => h("th", { scope: "col" }, t(`sup.col.${c}`))))),
    h("tbody", {}, rows),
  );
}

async function render(view) {
  view.append(h("h1", {}, t("sup.title")));
  const unitSection = h("section", { class: "panel", id: "sup-unit", "aria-labelledby": "sup-unit-h" });
  const chaseSection = h("section", { class: "panel", id: "sup-chase", "aria-labelledby": "sup-chase-h" });
  view.append(unitSection, chaseSection);

  async function load() {
    const unit = await api("/api/v1/assignments");
    unitSection.replaceChildren(
      h("h2", { id: "sup-unit-h" }, t("sup.unit_title"), " ", data(unit.unit, "span", { class: "muted" })),
      table(unit.assignments, UNIT_STEPS, load, t("sup.unit_title")),
    );
    if (state.who.person_id) {
      const chase = await api("/api/v1/assignments/chase");
      chaseSection.replaceChildren(
        h("h2", { id: "sup-chase-h" }, t("sup.chase_title")),
        table(chase.assignments, SUPERVISOR_STEPS, load, t("sup.chase_title")),
      );
    } else {
      chaseSection.replaceChildren(h("h2", { id: "sup-chase-h" }, t("sup.chase_title")), h("p", { class: "muted" }, t("sup.no_person")));
    }
  }

  await load();
  const timer = setInterval(load, 30000);
  return () => clearInterval(timer);
}

route("#/supervision", render);

const STATES = {
  "zh-CN": { assigned: "已交办", accepted: "已签收", in_progress: "办理中", reported: "已反馈", sent_back: "已退回", verified: "已核实", closed: "已办结" },
  en: { assigned: "Assigned", accepted: "Accepted", in_progress: "In progress", reported: "Reported back", sent_back: "Sent back", verified: "Verified", closed: "Closed" },
};
const STEPS = {
  "zh-CN": { accept: "签收", start: "开始办理", report: "反馈", verify: "核实", send_back: "退回", close: "办结" },
  en: { accept: "Accept", start: "Start", report: "Report back", verify: "Verify", send_back: "Send back", close: "Close" },
};
const prefixed = (prefix, table_) => Object.fromEntries(Object.entries(table_).map(([k, v]) => [`${prefix}${k}`, v]));

registerMessages({
  "zh-CN": {
    "nav.supervision": "督办",
    "sup.title": "督办事项",
    "sup.unit_title": "本单位待办",
    "sup.chase_title": "我的催办清单",
    "sup.none": "没有未办结的事项。",
    "sup.no_person": "此令牌不属于某个人，没有催办清单。",
    "sup.col.text": "批示",
    "sup.col.unit": "承办单位 / 责任人",
    "sup.col.supervisor": "督办人",
    "sup.col.state": "状态",
    "sup.col.due": "办理时限",
    "sup.col.actions": "操作",
    "sup.incident": "事件 #{id}",
    "sup.overdue": "已超期 {by}",
    "sup.due_in": "剩余 {in}",
    "sup.reminders": "已催办 {n} 次",
    "sup.reason": "退回理由",
    "sup.feedback_text": "反馈内容",
    "sup.done": "事项 #{id}：{state}",
    "sup.failed": "操作失败：{reason}",
    ...prefixed("sup.state.", STATES["zh-CN"]),
    ...prefixed("sup.step.", STEPS["zh-CN"]),
  },
  en: {
    "nav.supervision": "Supervision",
    "sup.title": "Supervision",
    "sup.unit_title": "My unit's open assignments",
    "sup.chase_title": "My chase list",
    "sup.none": "Nothing open.",
    "sup.no_person": "This token belongs to no person, so it has no chase list.",
    "sup.col.text": "Instruction",
    "sup.col.unit": "Unit / responsible",
    "sup.col.supervisor": "Supervisor",
    "sup.col.state": "State",
    "sup.col.due": "Due",
    "sup.col.actions": "Actions",
    "sup.incident": "Incident #{id}",
    "sup.overdue": "overdue by {by}",
    "sup.due_in": "due in {in}",
    "sup.reminders": "reminded {n} times",
    "sup.reason": "Why it is sent back",
    "sup.feedback_text": "What was done",
    "sup.done": "Assignment #{id}: {state}",
    "sup.failed": "Could not do that: {reason}",
    ...prefixed("sup.state.", STATES.en),
    ...prefixed("sup.step.", STEPS.en),
  },
});
