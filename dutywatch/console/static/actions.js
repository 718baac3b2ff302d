// Acting on an incident from the board or the incident page: acknowledge, add a note, attach
// a follow-up report (续报/终报), resolve with a note, hand the duty room over. Each action is
// one click (the ones that need words open a small form first), and each shows its result
// and the timeline entry it made, read back from the incident's timeline.

import { api, data, formatTime, h, registerMessages, state, t, toast } from "./app.js";

/** Timeline entries of ``incidentId`` that ``match``; waits up to ``wait`` ms for one (a
 * report goes through intake first, so its entry lands a moment after the answer). */
export async function entriesWhere(incidentId, match, wait = 0) {
  const until = Date.now() + wait;
  for (;;) {
    const { entries } = await api(`/api/v1/incidents/${incidentId}/timeline`);
    const found = entries.filter(match);
    if (found.length || Date.now() >= until) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function latest(entries) {
  return entries.length ? [entries[entries.length - 1]] : [];
}

export async function acknowledge(incident) {
  const result = await api(`/api/v1/incidents/${incident.id}/ack`, { method: "POST" });
  const entries = result.changed
    ? latest(await entriesWhere(incident.id, (e) => e.kind === "acknowledged" && e.actor === actor()))
    : [];
  return { message: t(result.changed ? "act.acked" : "act.ack_unchanged", { id: incident.id }), entries };
}

export async function addNote(incident, text) {
  const result = await api(`/api/v1/incidents/${incident.id}/notes`, {
    method: "POST",
    body: { text, command_id: crypto.randomUUID() },
  });
  const entries = await entriesWhere(incident.id, (e) => e.seq === result.seq);
  return { message: t("act.noted", { id: incident.id }), entries };
}

export async function resolve(incident, note) {
  const result = await api(`/api/v1/incidents/${incident.id}/resolve`, {
    method: "POST",
    body: note ? { note } : {},
  });
  const entries = result.changed
    ? latest(await entriesWhere(incident.id, (e) => e.kind === "resolved"))
    : [];
  return {
    message: t(result.changed ? "act.resolved" : "act.resolve_unchanged", { id: incident.id }),
    entries,
  };
}

/** 续报 (or 终报): a report of the same incident_ref, stage chosen, through intake. */
export async function followUp(incident, { stage, grade, summary, reportedAt }) {
  const report = {
    schema: "dutywatch.report.v1",
    report_id: crypto.randomUUID(),
    incident_ref: incident.incident_ref,
    org: incident.org,
    stage,
    grade,
    category: incident.category,
    title: incident.title,
    occurred_at: incident.occurred_at || incident.opened_at,
    reported_at: reportedAt,
    reporter: { name: state.who.person_id || state.who.label },
    summary,
  };
  if (incident.status && incident.status !== "actual") report.status = incident.status;
  await api("/api/v1/reports", { method: "POST", body: report });
  const entries = await entriesWhere(
    incident.id,
    (e) => e.kind === "report_received" && e.body.report_id === report.report_id,
    8000,
  );
  return { message: t("act.reported", { id: incident.id, stage: t(`inc.stage.${stage}`) }), entries };
}

/** 交接班: the duty room's open incidents are carried into the handover. */
export async function handOver(org, note, incoming) {
  const body = { org, note };
  if (incoming) body.incoming = incoming;
  const handover = await api("/api/v1/handovers", { method: "POST", body });
  const entries = await handoverEntries(handover, "handed_over");
  return {
    message: t("act.handed_over", { id: handover.id, count: handover.open_items.length }),
    entries,
  };
}

/** The incoming officer takes a handover over; its incidents' timelines record it. */
export async function takeOver(handover) {
  const result = await api(`/api/v1/handovers/${handover.id}/accept`, { method: "POST", body: {} });
  const entries = result.changed ? await handoverEntries(result, "handover_accepted") : [];
  return { message: t("act.took_over", { id: handover.id }), entries };
}

async function handoverEntries(handover, kind) {
  const entries = [];
  for (const item of handover.open_items.slice(0, 5)) {
    const found = await entriesWhere(
      item.incident_id,
      (e) => e.kind === kind && e.body.handover_id === handover.id,
    );
    entries.push(...found);
  }
  return entries;
}

function actor() {
  return state.who.person_id ? `person:${state.who.person_id}` : `${state.who.role}:${state.who.label}`;
}

/** Re-render ``container`` with ``render`` and put the focus back on the element with the same
 * data-focus-key (a button or link rebuilt by the render), else on ``fallback(key)``. */
export async function keepingFocus(container, render, fallback = () => null) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  const result = await render();
  if (key) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) || fallback(key);
    if (again) again.focus();
  }
  return result;
}

// ---- showing results --------------------------------------------------------------------

/** One timeline entry as a line: time, kind, actor, source. */
export function entryLine(entry) {
  return h(
    "span",
    { class: "entry" },
    h("time", { datetime: entry.at }, formatTime(entry.at)),
    " ",
    kindLabel(entry.kind),
    " · ",
    data(entry.actor),
    " · ",
    sourceLabel(entry.source),
    " · #",
    String(entry.seq),
  );
}

export function kindLabel(kind) {
  return h("span", { class: `kind kind-${kind}` }, t(`inc.kind.${kind}`));
}

export function sourceLabel(source) {
  return t(`inc.source.${source}`);
}

/** Show an action's result in ``region`` (a live region) and as a toast. */
export function showResult(region, { message, entries }) {
  toast(message, "ok");
  if (!region) return;
  region.replaceChildren(
    h("p", { class: "result-ok" }, message),
    entries.length
      ? h(
          "ul",
          { class: "result-entries", "aria-label": t("act.entries") },
          entries.map((e) => h("li", { dataset: { seq: String(e.seq), kind: e.kind } }, entryLine(e))),
        )
      : h("p", { class: "muted" }, t("act.no_entry")),
  );
}

export function showError(region, error) {
  const message = t("act.failed", { reason: error.message });
  toast(message, "error");
  if (region) region.replaceChildren(h("p", { class: "error", role: "alert" }, message));
}

// ---- forms ------------------------------------------------------------------------------

let formCount = 0;

/** A modal form with ``fields`` (each {name, label, kind: "text" | "textarea" | "select",
 * options, value, required}); ``submit(values)`` runs on send. Focus goes to the first
 * field and back to ``opener`` when the form closes. */
export function openForm({ title, fields, submitLabel, submit, opener }) {
  formCount += 1;
  const id = `form-${formCount}`;
  const controls = {};
  const rows = fields.map((field) => {
    const fieldId = `${id}-${field.name}`;
    let control;
    if (field.kind === "select") {
      control = h(
        "select",
        { id: fieldId, name: field.name },
        field.options.map(([value, label]) =>
          h("option", { value, selected: value === field.value }, label),
        ),
      );
    } else if (field.kind === "textarea") {
      control = h("textarea", { id: fieldId, name: field.name, rows: 4, required: field.required });
      control.value = field.value || "";
    } else {
      control = h("input", { id: fieldId, name: field.name, required: field.required, autocomplete: "off" });
      control.value = field.value || "";
    }
    controls[field.name] = control;
    return h("div", { class: "field" }, h("label", { for: fieldId }, field.label), control);
  });
  const error = h("p", { class: "error", role: "alert" });
  const send = h("button", { type: "submit", class: "primary" }, submitLabel);
  const cancel = h("button", { type: "button" }, t("act.cancel"));
  const form = h("form", { class: "act-form" }, h("h2", { id: `${id}-title` }, title), rows, error, h("div", { class: "buttons" }, send, cancel));
  const dialog = h("dialog", { class: "panel act-dialog", "aria-labelledby": `${id}-title` }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(Object.entries(controls).map(([name, c]) => [name, c.value.trim()]));
    send.disabled = true;
    error.textContent = "";
    try {
      await submit(values);
      close();
    } catch (failure) {
      error.textContent = t("act.failed", { reason: failure.message });
      send.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = Object.values(controls)[0];
  if (first) first.focus();
  return dialog;
}

/** The action buttons of one incident. ``done(outcome)`` after each success; ``now()`` is
 * the service's clock (a report's reported_at). */
export function actionButtons(incident, { region, done, now, compact = false }) {
  const run = async (button, action) => {
    button.disabled = true;
    try {
      const outcome = await action();
      showResult(region, outcome);
      done(outcome);
    } catch (error) {
      showError(region, error);
    } finally {
      button.disabled = false;
    }
  };
  const label = (key) => ({
    "aria-label": t(`act.${key}_on`, { id: incident.id }),
    dataset: { focusKey: `${key}-${incident.id}` },
  });
  const buttons = [];
  if (incident.state === "open") {
    const ack = h("button", { type: "button", class: "primary act-ack", ...label("ack") }, t("act.ack"));
    ack.addEventListener("click", () => run(ack, () => acknowledge(incident)));
    buttons.push(ack);
  }
  // A button that opens a form; the form's values go to ``action``.
  const formButton = (key, fields, action) => {
    const button = h("button", { type: "button", class: `act-${key}`, ...label(key) }, t(`act.${key}`));
    button.addEventListener("click", () =>
      openForm({
        title: t(`act.${key}_title`, { id: incident.id }),
        fields,
        submitLabel: t(`act.${key}_send`),
        opener: button,
        submit: async (values) => {
          const outcome = await action(values);
          showResult(region, outcome);
          done(outcome);
        },
      }),
    );
    buttons.push(button);
  };
  formButton("note", [{ name: "text", label: t("act.note_text"), kind: "textarea", required: true }], ({ text }) =>
    addNote(incident, text),
  );
  formButton(
    "report",
    [
      {
        name: "stage",
        label: t("act.report_stage"),
        kind: "select",
        value: incident.state === "resolved" ? "final" : "follow_up",
        options: ["follow_up", "final", "supplementary"].map((s) => [s, t(`inc.stage.${s}`)]),
      },
      {
        name: "grade",
        label: t("act.report_grade"),
        kind: "select",
        value: incident.grade,
        options: ["I", "II", "III", "IV"].map((g) => [g, t(`inc.grade.${g}`)]),
      },
      { name: "summary", label: t("act.report_summary"), kind: "textarea", required: true },
    ],
    (values) => followUp(incident, { ...values, reportedAt: now().toISOString() }),
  );
  if (incident.state !== "resolved") {
    formButton("resolve", [{ name: "note", label: t("act.resolve_note"), kind: "textarea", required: true }], ({ note }) =>
      resolve(incident, note),
    );
  }
  return h("div", { class: compact ? "actions compact" : "actions", role: "group", "aria-label": t("act.group", { id: incident.id }) }, buttons);
}

/** The hand-over button of a duty room (the signed-in officer's). */
export function handoverButton(org, { region, done }) {
  const button = h("button", { type: "button", class: "act-handover", dataset: { focusKey: "handover" } }, t("act.handover"));
  button.addEventListener("click", () =>
    openForm({
      title: t("act.handover_title"),
      fields: [
        { name: "note", label: t("act.handover_note"), kind: "textarea", required: true },
        { name: "incoming", label: t("act.handover_incoming"), kind: "text" },
      ],
      submitLabel: t("act.handover_send"),
      opener: button,
      submit: async ({ note, incoming }) => {
        const outcome = await handOver(org, note, incoming);
        showResult(region, outcome);
        done(outcome);
      },
    }),
  );
  return button;
}

/** Handovers of ``org`` waiting to be taken over: the incoming officer's button for each. */
export async function pendingHandovers(org, { region, done }) {
  const { handovers } = await api(`/api/v1/handovers?org=${encodeURIComponent(org)}`);
  const waiting = handovers.filter((item) => !item.accepted_at);
  if (!waiting.length) return null;
  return h(
    "ul",
    { class: "handovers" },
    waiting.map((item) => {
      const mine = item.outgoing === state.who.person_id;
      const button = mine
        ? h("span", { class: "muted" }, t("act.handover_waiting"))
        : h("button", { type: "button", class: "primary act-take-over", dataset: { focusKey: `take-${item.id}` } }, t("act.take_over"));
      if (!mine) {
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            const outcome = await takeOver(item);
            showResult(region, outcome);
            done(outcome);
          } catch (error) {
            showError(region, error);
            button.disabled = false;
          }
        });
      }
      return h(
        "li",
        { class: "panel", dataset: { handoverId: String(item.id) } },
        t("act.handover_pending", { id: item.id, count: item.open_items.length }),
        " ",
        data(item.outgoing),
        " · ",
        h("time", { datetime: item.created_at }, formatTime(item.created_at)),
        " ",
        data(item.note, "q"),
        " ",
        button,
      );
    }),
  );
}

// ---- strings shared by the board and the incident page ----------------------------------

const KINDS = {
  report_received: ["收到报告", "Report received"],
  incident_opened: ["事件建立", "Incident opened"],
  first_report_missing: ["缺少首报", "First report missing"],
  grade_changed: ["等级变更", "Grade changed"],
  paged: ["已呼叫", "Paged"],
  roster_gap: ["排班空缺", "Roster gap"],
  acknowledged: ["已确认", "Acknowledged"],
  escalated: ["已升级", "Escalated"],
  resolved: ["已办结", "Resolved"],
  note: ["备注", "Note"],
  handed_over: ["交班", "Handed over"],
  handover_accepted: ["接班", "Handover accepted"],
  alert_opened: ["告警开启", "Alert opened"],
  clock_started: ["报送时限开始", "Reporting clock started"],
  report_late: ["迟报", "Report late"],
  signed_off: ["已签发", "Signed off"],
  fields_omitted: ["漏报", "Items omitted"],
  reminder_sent: ["催报提醒", "Reminder sent"],
  zero_report_missing: ["零报告缺报", "Zero report missing"],
  forwarded: ["已转办", "Forwarded"],
  skip_level: ["越级上报", "Reported skip-level"],
  correction: ["更正", "Correction"],
  instruction: ["批示", "Instruction"],
  deadline_met: ["按时报送", "Deadline met"],
  page_delivered: ["呼叫送达", "Page delivered"],
  page_failed: ["呼叫失败", "Page failed"],
  personal_data_purged: ["个人信息已销毁", "Personal data purged"],
  retention_held: ["保留冻结", "Retention held"],
  retention_released: ["保留解除", "Retention released"],
  assigned: ["督办交办", "Assigned"],
  assignment_accepted: ["督办已接收", "Assignment accepted"],
  assignment_started: ["督办办理中", "Assignment started"],
  feedback_reported: ["督办反馈", "Feedback reported"],
  feedback_verified: ["反馈已核实", "Feedback verified"],
  feedback_sent_back: ["反馈退回", "Feedback sent back"],
  assignment_closed: ["督办办结", "Assignment closed"],
  supervision_reminded: ["督办催办", "Supervision reminder"],
  recheck_requested: ["回头看", "Re-check requested"],
  recheck_answered: ["二次反馈", "Re-check answered"],
  assignment_reopened: ["督办重开", "Assignment reopened"],
};

const zh = {
  "act.ack": "确认",
  "act.note": "备注",
  "act.report": "续报",
  "act.resolve": "办结",
  "act.handover": "交接班",
  "act.ack_on": "确认事件 {id}",
  "act.note_on": "为事件 {id} 添加备注",
  "act.report_on": "为事件 {id} 续报",
  "act.resolve_on": "办结事件 {id}",
  "act.group": "事件 {id} 的操作",
  "act.cancel": "取消",
  "act.note_title": "事件 {id}：添加备注",
  "act.note_text": "备注内容",
  "act.note_send": "保存备注",
  "act.report_title": "事件 {id}：续报",
  "act.report_stage": "报告类别",
  "act.report_grade": "事件等级",
  "act.report_summary": "最新情况",
  "act.report_send": "报送",
  "act.resolve_title": "事件 {id}：办结",
  "act.resolve_note": "处置结果",
  "act.resolve_send": "办结",
  "act.handover_title": "交接班",
  "act.handover_note": "交班说明",
  "act.handover_incoming": "接班人（人员编号，可不填）",
  "act.handover_send": "交班",
  "act.acked": "事件 {id} 已确认，升级已停止。",
  "act.ack_unchanged": "事件 {id} 此前已确认。",
  "act.noted": "已为事件 {id} 添加备注。",
  "act.resolved": "事件 {id} 已办结。",
  "act.resolve_unchanged": "事件 {id} 此前已办结。",
  "act.reported": "事件 {id} 的{stage}已报送。",
  "act.handed_over": "交接 {id} 已发起，移交 {count} 起未结事件。",
  "act.take_over": "接班",
  "act.took_over": "已接班（交接 {id}）。",
  "act.handover_pending": "待接班：交接 {id}，{count} 起未结事件，交班人",
  "act.handover_waiting": "等待接班",
  "act.entries": "生成的时间线记录",
  "act.no_entry": "时间线没有新记录。",
  "act.failed": "操作失败：{reason}",
  "inc.stage.first": "首报",
  "inc.stage.follow_up": "续报",
  "inc.stage.final": "终报",
  "inc.stage.supplementary": "补报",
  "inc.grade.I": "Ⅰ级 特别重大",
  "inc.grade.II": "Ⅱ级 重大",
  "inc.grade.III": "Ⅲ级 较大",
  "inc.grade.IV": "Ⅳ级 一般",
  "inc.source.nats": "消息总线",
  "inc.source.http": "接口",
  "inc.source.cli": "命令行",
  "inc.source.system": "系统",
};
const en = {
  "act.ack": "Acknowledge",
  "act.note": "Note",
  "act.report": "Follow-up report",
  "act.resolve": "Resolve",
  "act.handover": "Hand over",
  "act.ack_on": "Acknowledge incident {id}",
  "act.note_on": "Add a note to incident {id}",
  "act.report_on": "Send a follow-up report on incident {id}",
  "act.resolve_on": "Resolve incident {id}",
  "act.group": "Actions on incident {id}",
  "act.cancel": "Cancel",
  "act.note_title": "Incident {id}: add a note",
  "act.note_text": "Note",
  "act.note_send": "Save note",
  "act.report_title": "Incident {id}: follow-up report",
  "act.report_stage": "Report stage",
  "act.report_grade": "Grade",
  "act.report_summary": "What is new",
  "act.report_send": "Send report",
  "act.resolve_title": "Incident {id}: resolve",
  "act.resolve_note": "Resolution",
  "act.resolve_send": "Resolve",
  "act.handover_title": "Hand over the shift",
  "act.handover_note": "Handover note",
  "act.handover_incoming": "Incoming officer (person id, optional)",
  "act.handover_send": "Hand over",
  "act.acked": "Incident {id} acknowledged; the escalation stopped.",
  "act.ack_unchanged": "Incident {id} was acknowledged already.",
  "act.noted": "Note added to incident {id}.",
  "act.resolved": "Incident {id} resolved.",
  "act.resolve_unchanged": "Incident {id} was resolved already.",
  "act.reported": "{stage} sent for incident {id}.",
  "act.handed_over": "Handover {id} started, carrying {count} open incidents.",
  "act.take_over": "Take over",
  "act.took_over": "You took handover {id} over.",
  "act.handover_pending": "Waiting to be taken over: handover {id}, {count} open incidents, from",
  "act.handover_waiting": "waiting for the incoming officer",
  "act.entries": "Timeline entries made",
  "act.no_entry": "No new timeline entry.",
  "act.failed": "That did not work: {reason}",
  "inc.stage.first": "First report",
  "inc.stage.follow_up": "Follow-up report",
  "inc.stage.final": "Final report",
  "inc.stage.supplementary": "Supplementary report",
  "inc.grade.I": "Grade I, extraordinarily serious",
  "inc.grade.II": "Grade II, serious",
  "inc.grade.III": "Grade III, major",
  "inc.grade.IV": "Grade IV, ordinary",
  "inc.source.nats": "message bus",
  "inc.source.http": "API",
  "inc.source.cli": "command line",
  "inc.source.system": "system",
};
for (const [kind, [zhLabel, enLabel]] of Object.entries(KINDS)) {
  zh[`inc.kind.${kind}`] = zhLabel;
  en[`inc.kind.${kind}`] = enLabel;
}
registerMessages({ "zh-CN": zh, en });
