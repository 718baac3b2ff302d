// The board (#/board): the open incidents of the signed-in person's organisations, most
// severe then newest first (the server's order), with who is paged, the acknowledgement, the
// next escalation and the next reporting deadline counting down on the service's clock.
// It refetches whenever a live feed brings something (and after a reconnect), so it never
// needs a reload. Keys: j/n next, k/p previous, a acknowledge, Enter open.

import { api, data, formatDuration, formatTime, go, h, registerMessages, route, state, t } from "./app.js";
import {
  acknowledge,
  actionButtons,
  handoverButton,
  keepingFocus,
  pendingHandovers,
  showError,
  showResult,
} from "./actions.js";
import { onLive } from "./live.js";

/** The service's clock, as last told (``now`` of an answer), running on from there. */
let offset = 0;
export function serverNow() {
  return new Date(Date.now() + offset);
}
export function learnServerNow(iso) {
  if (iso) offset = Date.parse(iso) - Date.now();
}

/** Countdowns and ages in ``root``: elements with data-due (counting down, late when past)
 * or data-since (time since). */
export function tick(root) {
  const now = serverNow().getTime();
  for (const node of root.querySelectorAll("[data-due]")) {
    const left = (Date.parse(node.dataset.due) - now) / 1000;
    const late = left < 0 || node.dataset.missed === "true";
    node.textContent = late ? t("board.late_by", { d: formatDuration(Math.abs(left)) }) : formatDuration(left);
    node.classList.toggle("late", late);
    node.closest("tr")?.classList.toggle("row-late", late || node.closest("tr").querySelector(".late") !== null);
  }
  for (const node of root.querySelectorAll("[data-since]")) {
    node.textContent = t("board.ago", { d: formatDuration(Math.max(0, (now - Date.parse(node.dataset.since)) / 1000)) });
  }
}

export function gradeBadge(grade) {
  return h("span", { class: `grade grade-${grade}`, title: t(`inc.grade.${grade}`) }, t(`board.grade.${grade}`));
}

function countdown(due, missed = false) {
  return h("span", { class: "countdown", dataset: { due, missed: String(Boolean(missed)) } });
}

function pagedCell(row) {
  if (!row.paged.length) return h("span", { class: "muted" }, t("board.nobody_paged"));
  return h(
    "ul",
    { class: "paged" },
    row.paged.slice(0, 3).map((p) => h("li", {}, data(p.name || p.person_id), " ", h("span", { class: "muted" }, data(p.org)))),
  );
}

function ackCell(row) {
  const rooms = t("board.rooms_acked", { n: row.alerts.acknowledged, total: row.alerts.total });
  if (row.state === "acknowledged") {
    return [h("span", { class: "acked" }, t("board.state.acknowledged")), " ", data(row.acknowledged_by, "span", { class: "muted" }), h("br"), h("span", { class: "muted" }, rooms)];
  }
  return [h("span", { class: "unacked" }, t("board.state.open")), h("br"), h("span", { class: "muted" }, rooms)];
}

function escalationCell(row) {
  const next = row.next_escalation;
  if (!next) return h("span", { class: "muted" }, t("board.none"));
  return [countdown(next.due_at), h("br"), h("span", { class: "muted" }, t("board.escalation_at"), " ", data(next.org))];
}

function deadlineCell(row) {
  const next = row.next_deadline;
  if (!next) return h("span", { class: "muted" }, t("board.none"));
  return [
    countdown(next.due_at, next.missed),
    h("br"),
    h("span", { class: "muted" }, t(`board.deadline.${next.kind}`), " → ", data(next.target)),
  ];
}

route("#/board", async (view) => {
  const region = h("div", { class: "act-result", role: "status", "aria-live": "polite" });
  const body = h("tbody");
  const count = h("p", { class: "muted board-count" });
  const tools = h("div", { class: "board-tools" });
  const handovers = h("div", { class: "pending-handovers" });
  const table = h(
    "table",
    { class: "board", "aria-describedby": "board-help" },
    h("caption", { class: "visually-hidden" }, t("board.caption")),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["grade", "incident", "since", "paged", "ack", "escalation", "deadline", "actions"].map((c) => h("th", { scope: "col" }, t(`board.col.${c}`))),
      ),
    ),
    body,
  );
  view.append(
    h("div", { class: "board-head" }, h("h1", {}, t("board.title")), tools),
    h("p", { id: "board-help", class: "help muted" }, t("board.help")),
    count,
    region,
    handovers,
    table,
  );

  let rows = [];
  let selected = null;
  let fetching = null;
  let again = false;

  const select = (id, focus = true) => {
    selected = id;
    for (const tr of body.querySelectorAll("tr[data-incident-id]")) {
      const on = tr.dataset.incidentId === String(id);
      tr.classList.toggle("selected", on);
      tr.toggleAttribute("aria-current", on);
      if (on && focus) tr.querySelector("a.incident-link").focus();
    }
  };

  const render = () => {
    if (state.who && state.who.person_id) {
      tools.replaceChildren(handoverButton(state.who.org, { region, done: refresh }));
    }
    count.textContent = t("board.count", { n: rows.length });
    if (!rows.length) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted empty" }, t("board.empty"))));
      return;
    }
    body.replaceChildren(
      ...rows.map((row) =>
        h(
          "tr",
          { class: `grade-row grade-row-${row.grade}`, dataset: { incidentId: String(row.id), state: row.state } },
          h("td", { dataset: { label: t("board.col.grade") } }, gradeBadge(row.grade)),
          h(
            "td",
            { class: "incident-cell", dataset: { label: t("board.col.incident") } },
            h(
              "a",
              {
                class: "incident-link",
                href: `#/incident/${row.id}`,
                dataset: { focusKey: `open-${row.id}` },
                onfocus: () => select(row.id, false),
              },
              data(row.title),
            ),
            row.drill ? [" ", h("span", { class: "drill" }, t("board.drill"))] : null,
            h("br"),
            h("span", { class: "muted" }, "#", String(row.id), " · ", data(row.org), " · ", t(`board.category.${row.category}`)),
          ),
          h("td", { dataset: { label: t("board.col.since") } }, h("span", { dataset: { since: row.opened_at } }), h("br"), h("time", { class: "muted", datetime: row.opened_at }, formatTime(row.opened_at))),
          h("td", { dataset: { label: t("board.col.paged") } }, pagedCell(row)),
          h("td", { dataset: { label: t("board.col.ack") } }, ackCell(row)),
          h("td", { dataset: { label: t("board.col.escalation") } }, escalationCell(row)),
          h("td", { dataset: { label: t("board.col.deadline") } }, deadlineCell(row)),
          h("td", { dataset: { label: t("board.col.actions") } }, actionButtons(row, { region, done: refresh, now: serverNow, compact: true })),
        ),
      ),
    );
    tick(body);
    if (selected !== null && rows.some((r) => r.id === selected)) select(selected, false);
  };

  // One fetch at a time; whatever arrives meanwhile asks for one more.
  async function refresh() {
    if (fetching) {
      again = true;
      return fetching;
    }
    fetching = (async () => {
      do {
        again = false;
        const answer = await api("/api/v1/board");
        learnServerNow(answer.now);
        rows = answer.incidents;
        // Shift change: the duty room's handovers not yet taken over, with a button for the
        // incoming officer (people only: a handover is taken over by a person).
        const waiting = state.who && state.who.person_id ? await pendingHandovers(state.who.org, { region, done: refresh }) : null;
        handovers.replaceChildren(...(waiting ? [waiting] : []));
        // An action's button may be gone (acknowledged): then the row's link takes the focus.
        await keepingFocus(view, render, (key) =>
          body.querySelector(`a[data-focus-key="open-${key.split("-").pop()}"]`),
        );
        view.dataset.loaded = String(Number(view.dataset.loaded || 0) + 1);
      } while (again);
    })();
    try {
      await fetching;
    } catch (error) {
      showError(region, error);
    } finally {
      fetching = null;
    }
  }

  const move = (step) => {
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.id === selected);
    const next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
    select(rows[next].id);
  };

  const onKey = async (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, dialog")) return;
    if (event.key === "j" || event.key === "n") {
      event.preventDefault();
      move(1);
    } else if (event.key === "k" || event.key === "p") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "a" && selected !== null) {
      const row = rows.find((r) => r.id === selected);
      if (!row || row.state !== "open") return;
      event.preventDefault();
      try {
        const outcome = await acknowledge(row);
        showResult(region, outcome);
        await refresh();
      } catch (error) {
        showError(region, error);
      }
    } else if (event.key === "Enter" && selected !== null && target === document.body) {
      go(`#/incident/${selected}`);
    }
  };

  let pending = null;
  const stopLive = onLive(({ type }) => {
    // Several events often come together (a report opens an incident and pages): one fetch.
    clearTimeout(pending);
    pending = setTimeout(refresh, type === "open" ? 0 : 100);
  });
  document.addEventListener("keydown", onKey);
  const ticker = setInterval(() => tick(body), 1000);
  // A safety net for what no event announces to this subtree (an incident forwarded in from
  // another district's office): a quiet board still refetches once a minute.
  const sweep = setInterval(refresh, 60000);
  await refresh();

  return () => {
    stopLive();
    clearTimeout(pending);
    clearInterval(ticker);
    clearInterval(sweep);
    document.removeEventListener("keydown", onKey);
  };
});

registerMessages({
  "zh-CN": {
    "board.title": "待办事件",
    "board.caption": "本单位及下级未办结事件，按等级和时间排列",
    "board.help": "快捷键：j 或 n 下一条，k 或 p 上一条，a 确认所选事件，Enter 打开。",
    "board.count": "未办结事件 {n} 起",
    "board.empty": "没有未办结的事件。",
    "board.col.grade": "等级",
    "board.col.incident": "事件",
    "board.col.since": "接报",
    "board.col.paged": "已呼叫",
    "board.col.ack": "确认",
    "board.col.escalation": "下次升级",
    "board.col.deadline": "报送时限",
    "board.col.actions": "操作",
    "board.grade.I": "Ⅰ级",
    "board.grade.II": "Ⅱ级",
    "board.grade.III": "Ⅲ级",
    "board.grade.IV": "Ⅳ级",
    "board.ago": "{d}前",
    "board.late_by": "已超时 {d}",
    "board.none": "无",
    "board.nobody_paged": "尚未呼叫",
    "board.rooms_acked": "{n}/{total} 个值班室已确认",
    "board.state.open": "未确认",
    "board.state.acknowledged": "已确认",
    "board.escalation_at": "升级至",
    "board.deadline.phone": "电话快报",
    "board.deadline.written": "书面报告",
    "board.drill": "演练",
    "board.category.natural_disaster": "自然灾害",
    "board.category.accident": "事故灾难",
    "board.category.public_health": "公共卫生事件",
    "board.category.social_safety": "社会安全事件",
  },
  en: {
    "board.title": "Open incidents",
    "board.caption": "Unresolved incidents of your organisations, most severe and newest first",
    "board.help": "Keys: j or n next, k or p previous, a acknowledge the selected incident, Enter open it.",
    "board.count": "{n} unresolved incidents",
    "board.empty": "No unresolved incidents.",
    "board.col.grade": "Grade",
    "board.col.incident": "Incident",
    "board.col.since": "Reported",
    "board.col.paged": "Paged",
    "board.col.ack": "Acknowledged",
    "board.col.escalation": "Next escalation",
    "board.col.deadline": "Next deadline",
    "board.col.actions": "Actions",
    "board.grade.I": "I",
    "board.grade.II": "II",
    "board.grade.III": "III",
    "board.grade.IV": "IV",
    "board.ago": "{d} ago",
    "board.late_by": "late by {d}",
    "board.none": "none",
    "board.nobody_paged": "nobody yet",
    "board.rooms_acked": "{n} of {total} duty rooms acknowledged",
    "board.state.open": "Not acknowledged",
    "board.state.acknowledged": "Acknowledged",
    "board.escalation_at": "climbs to",
    "board.deadline.phone": "Phone report",
    "board.deadline.written": "Written report",
    "board.drill": "Drill",
    "board.category.natural_disaster": "Natural disaster",
    "board.category.accident": "Accident",
    "board.category.public_health": "Public health",
    "board.category.social_safety": "Social safety",
  },
});
