// The incident page (#/incident/:id): the summary, the actions, the full timeline (every
// entry with its kind, actor, source and time), the reports as received, the position a
// report gives (a local drawing, no map tiles from elsewhere) and the exports.

import { api, data, formatTime, h, registerMessages, route, state, t } from "./app.js";
import { acknowledge, actionButtons, keepingFocus, kindLabel, showError, showResult, sourceLabel } from "./actions.js";
import { gradeBadge, learnServerNow, serverNow, tick } from "./board.js";
import { onLive } from "./live.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

function pretty(value) {
  return data(JSON.stringify(value, null, 2), "pre", { class: "payload" });
}

function field(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function summary(incident) {
  const next = incident.next_escalation;
  const deadline = incident.next_deadline;
  return h(
    "dl",
    { class: "summary" },
    field(t("incident.state"), t(`incident.state.${incident.state}`)),
    field(t("incident.org"), data(incident.org)),
    incident.responsible_org !== incident.org ? field(t("incident.responsible"), data(incident.responsible_org)) : null,
    field(t("incident.category"), t(`board.category.${incident.category}`)),
    field(t("incident.occurred"), incident.occurred_at ? h("time", { datetime: incident.occurred_at }, formatTime(incident.occurred_at)) : t("board.none")),
    field(t("incident.opened"), h("time", { datetime: incident.opened_at }, formatTime(incident.opened_at)), " (", h("span", { dataset: { since: incident.opened_at } }), ")"),
    field(t("incident.reports"), String(incident.reports_count)),
    field(
      t("incident.acknowledged"),
      incident.acknowledged_at ? [h("time", { datetime: incident.acknowledged_at }, formatTime(incident.acknowledged_at)), " · ", data(incident.acknowledged_by)] : t("board.state.open"),
    ),
    incident.resolved_at ? field(t("incident.resolved"), h("time", { datetime: incident.resolved_at }, formatTime(incident.resolved_at)), " · ", data(incident.resolved_by)) : null,
    field(
      t("board.col.escalation"),
      next ? [h("span", { class: "countdown", dataset: { due: next.due_at, missed: "false" } }), " · ", data(next.org)] : t("board.none"),
    ),
    field(
      t("board.col.deadline"),
      deadline ? [h("span", { class: "countdown", dataset: { due: deadline.due_at, missed: "false" } }), " · ", t(`board.deadline.${deadline.kind}`), " → ", data(deadline.target)] : t("board.none"),
    ),
  );
}

/** A small table: ``columns`` are key suffixes of ``prefix`` for the headings. */
function smallTable(className, caption, prefix, columns, rows) {
  return h(
    "table",
    { class: className },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`${prefix}.${c}`))))),
    h("tbody", {}, rows),
  );
}

function alertsTable(incident) {
  if (!incident.alerts.length) return null;
  return smallTable(
    "alerts",
    t("incident.alerts"),
    "incident.alert",
    ["room", "reason", "started", "ack"],
    incident.alerts.map((a) =>
      h(
        "tr",
        {},
        h("td", {}, data(a.org)),
        h("td", {}, t(`incident.opened_reason.${a.opened_reason}`)),
        h("td", {}, h("time", { datetime: a.started_at }, formatTime(a.started_at))),
        h("td", {}, a.acknowledged_at ? [formatTime(a.acknowledged_at), " · ", data(a.acknowledged_by)] : h("span", { class: "unacked" }, t("board.state.open"))),
      ),
    ),
  );
}

function clocksTable(incident) {
  if (!incident.clocks.length) return null;
  return smallTable(
    "clocks",
    t("incident.clocks"),
    "incident.clock",
    ["target", "kind", "due", "stopped"],
    incident.clocks.map((c) =>
      h(
        "tr",
        { class: c.missed_at || c.late_by_s ? "row-late" : null },
        h("td", {}, data(c.target)),
        h("td", {}, t(`board.deadline.${c.kind}`)),
        h("td", {}, h("time", { datetime: c.due_at }, formatTime(c.due_at)), c.missed_at ? [" ", h("span", { class: "late" }, t("incident.clock.missed"))] : null),
        h("td", {}, c.stopped_at ? formatTime(c.stopped_at) : c.missed_at ? "" : h("span", { class: "countdown", dataset: { due: c.due_at, missed: "false" } })),
      ),
    ),
  );
}

/** Where the reports say it happened: each position as a dot on a local drawing (north up,
 * scaled to the points), the coordinates written out, and a link to a map elsewhere. */
function positions(reports) {
  const points = reports
    .map((r) => ({ report: r, location: r.payload.location }))
    .filter(({ location }) => location && typeof location.lat === "number" && typeof location.lon === "number");
  if (!points.length) return h("p", { class: "muted" }, t("incident.no_position"));
  const lats = points.map((p) => p.location.lat);
  const lons = points.map((p) => p.location.lon);
  const span = Math.max(Math.max(...lats) - Math.min(...lats), Math.max(...lons) - Math.min(...lons), 0.01);
  const midLat = (Math.max(...lats) + Math.min(...lats)) / 2;
  const midLon = (Math.max(...lons) + Math.min(...lons)) / 2;
  const at = ({ lat, lon }) => [100 + ((lon - midLon) / span) * 140, 100 - ((lat - midLat) / span) * 140];
  const drawing = svg(
    "svg",
    { viewBox: "0 0 200 200", class: "position-map", role: "img", "aria-label": t("incident.map_label") },
    svg("rect", { x: 1, y: 1, width: 198, height: 198, class: "map-frame" }),
    svg("line", { x1: 100, y1: 0, x2: 100, y2: 200, class: "map-grid" }),
    svg("line", { x1: 0, y1: 100, x2: 200, y2: 100, class: "map-grid" }),
    svg("text", { x: 100, y: 14, class: "map-north" }, "N"),
    ...points.map((p, i) => {
      const [x, y] = at(p.location);
      return svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: i === points.length - 1 ? 7 : 4, class: i === points.length - 1 ? "map-marker latest" : "map-marker" });
    }),
  );
  const latest = points[points.length - 1].location;
  const osm = `https://www.openstreetmap.org/?mlat=${latest.lat}&mlon=${latest.lon}#map=15/${latest.lat}/${latest.lon}`;
  return h(
    "div",
    { class: "position" },
    drawing,
    h(
      "div",
      {},
      h("p", {}, data(latest.text)),
      h("p", { class: "coords" }, t("incident.coords", { lat: latest.lat.toFixed(5), lon: latest.lon.toFixed(5) })),
      h("p", {}, h("a", { href: osm, rel: "noopener noreferrer", target: "_blank" }, t("incident.map_link"))),
    ),
  );
}

function reportsList(reports) {
  return h(
    "ol",
    { class: "reports" },
    reports.map((r) =>
      h(
        "li",
        { dataset: { reportId: r.report_id } },
        h("p", {}, h("strong", {}, t(`inc.stage.${r.stage}`)), " · ", h("time", { datetime: r.received_at }, formatTime(r.received_at)), " · ", sourceLabel(r.source)),
        r.payload.summary ? data(r.payload.summary, "p") : null,
        h("details", {}, h("summary", {}, t("incident.payload")), pretty(r.payload)),
      ),
    ),
  );
}

function detail(entry) {
  const body = entry.body || {};
  const text = body.text || body.note || body.summary;
  return [
    typeof text === "string" ? data(text, "p") : null,
    Object.keys(body).length ? h("details", {}, h("summary", {}, t("incident.entry_body")), pretty(body)) : null,
  ];
}

function timelineTable(entries) {
  return smallTable(
    "timeline",
    t("incident.timeline_caption", { n: entries.length }),
    "incident.col",
    ["seq", "at", "kind", "actor", "source", "detail"],
    entries.map((e) =>
      h(
        "tr",
        { dataset: { seq: String(e.seq), kind: e.kind } },
        h("td", {}, String(e.seq)),
        h("td", {}, h("time", { datetime: e.at }, formatTime(e.at))),
        h("td", {}, kindLabel(e.kind)),
        h("td", {}, data(e.actor)),
        h("td", {}, sourceLabel(e.source)),
        h("td", { class: "entry-detail" }, detail(e)),
      ),
    ),
  );
}

function exportsLinks(id) {
  const lang = state.lang === "en" ? "en" : "zh";
  return h(
    "ul",
    { class: "exports" },
    ["json", "csv", "html", "pdf"].map((format) =>
      h("li", {}, h("a", { href: `/api/v1/incidents/${id}/export?format=${format}&lang=${lang}`, download: "", class: `export-${format}` }, t(`incident.export.${format}`))),
    ),
  );
}

route("#/incident/:id", async (view, { id }) => {
  const region = h("div", { class: "act-result", role: "status", "aria-live": "polite" });
  const content = h("div", { class: "incident-page" });
  view.append(
    h("p", {}, h("a", { href: "#/board" }, t("incident.back"))),
    h("p", { class: "help muted" }, t("incident.help")),
    region,
    content,
  );
  let current = null;

  const load = async () => {
    const [incident, timeline] = await Promise.all([api(`/api/v1/incidents/${id}`), api(`/api/v1/incidents/${id}/timeline`)]);
    learnServerNow(incident.now);
    current = incident;
    const heading = h("h1", { tabindex: "-1" }, gradeBadge(incident.grade), " ", data(incident.title), " ", h("span", { class: "muted" }, "#", String(incident.id)));
    await keepingFocus(
      content,
      () =>
        content.replaceChildren(
          h("header", { class: `incident-head grade-row-${incident.grade}` }, heading, incident.drill ? h("span", { class: "drill" }, t("board.drill")) : null),
          actionButtons(incident, { region, done: load, now: serverNow }),
          h(
            "div",
            { class: "incident-grid" },
            h(
              "div",
              { class: "incident-main" },
              h("section", { class: "panel", "aria-labelledby": "sum-h" }, h("h2", { id: "sum-h" }, t("incident.summary")), summary(incident)),
              h("section", { class: "panel", "aria-labelledby": "tl-h" }, h("h2", { id: "tl-h" }, t("incident.timeline")), timelineTable(timeline.entries)),
              h("section", { class: "panel", "aria-labelledby": "al-h" }, h("h2", { id: "al-h" }, t("incident.rooms")), alertsTable(incident), clocksTable(incident)),
            ),
            h(
              "div",
              { class: "incident-side" },
              h("section", { class: "panel", "aria-labelledby": "pos-h" }, h("h2", { id: "pos-h" }, t("incident.position")), positions(incident.reports)),
              h("section", { class: "panel", "aria-labelledby": "ex-h" }, h("h2", { id: "ex-h" }, t("incident.exports")), exportsLinks(incident.id)),
              h("section", { class: "panel", "aria-labelledby": "rep-h" }, h("h2", { id: "rep-h" }, t("incident.reports_received", { n: incident.reports.length })), reportsList(incident.reports)),
            ),
          ),
        ),
      () => heading,
    );
    tick(content);
    view.dataset.loaded = String(Number(view.dataset.loaded || 0) + 1);
    return heading;
  };

  try {
    (await load()).focus();
  } catch (error) {
    showError(region, error);
    return undefined;
  }
  const reload = () => load().catch((error) => showError(region, error));
  let pending = null;
  const stopLive = onLive(({ type, data: event }) => {
    if (type === "incident" && event && String(event.incident_id) !== String(id)) return;
    if (type === "page" && event && String(event.incident_id) !== String(id)) return;
    clearTimeout(pending);
    pending = setTimeout(reload, 100);
  });
  const ticker = setInterval(() => tick(content), 1000);
  const onKey = async (event) => {
    if (event.key !== "a" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select, dialog")) return;
    if (!current || current.state !== "open") return;
    event.preventDefault();
    try {
      showResult(region, await acknowledge(current));
      await reload();
    } catch (error) {
      showError(region, error);
    }
  };
  document.addEventListener("keydown", onKey);
  return () => {
    stopLive();
    clearTimeout(pending);
    clearInterval(ticker);
    document.removeEventListener("keydown", onKey);
  };
});

registerMessages({
  "zh-CN": {
    "incident.back": "← 返回待办",
    "incident.help": "快捷键：a 确认本事件。",
    "incident.summary": "概况",
    "incident.state": "状态",
    "incident.state.open": "未确认",
    "incident.state.acknowledged": "已确认",
    "incident.state.resolved": "已办结",
    "incident.org": "报告单位",
    "incident.responsible": "责任单位",
    "incident.category": "类别",
    "incident.occurred": "发生时间",
    "incident.opened": "接报时间",
    "incident.reports": "报告数",
    "incident.acknowledged": "确认",
    "incident.resolved": "办结",
    "incident.alerts": "各值班室告警",
    "incident.rooms": "告警与报送时限",
    "incident.alert.room": "值班室",
    "incident.alert.reason": "原因",
    "incident.alert.started": "开始",
    "incident.alert.ack": "确认",
    "incident.opened_reason.incident_opened": "事件建立",
    "incident.opened_reason.policy_step": "升级策略",
    "incident.opened_reason.statutory": "法定上报",
    "incident.opened_reason.deadline_missed": "超时未报",
    "incident.opened_reason.forwarded": "转办",
    "incident.clocks": "报送时限",
    "incident.clock.target": "报送对象",
    "incident.clock.kind": "方式",
    "incident.clock.due": "时限",
    "incident.clock.stopped": "报送 / 剩余",
    "incident.clock.missed": "迟报",
    "incident.position": "位置",
    "incident.no_position": "报告未给出坐标。",
    "incident.map_label": "报告位置示意图，上方为北",
    "incident.coords": "纬度 {lat}，经度 {lon}",
    "incident.map_link": "在外部地图中查看",
    "incident.exports": "导出",
    "incident.export.json": "JSON",
    "incident.export.csv": "CSV 表格",
    "incident.export.html": "网页",
    "incident.export.pdf": "PDF 文件",
    "incident.timeline": "时间线",
    "incident.timeline_caption": "共 {n} 条记录，依次链接防篡改",
    "incident.col.seq": "序号",
    "incident.col.at": "时间",
    "incident.col.kind": "类型",
    "incident.col.actor": "操作人",
    "incident.col.source": "来源",
    "incident.col.detail": "内容",
    "incident.entry_body": "记录内容",
    "incident.reports_received": "收到的报告（{n} 份）",
    "incident.payload": "原文",
  },
  en: {
    "incident.back": "← Back to the board",
    "incident.help": "Keys: a acknowledge this incident.",
    "incident.summary": "Summary",
    "incident.state": "State",
    "incident.state.open": "Not acknowledged",
    "incident.state.acknowledged": "Acknowledged",
    "incident.state.resolved": "Resolved",
    "incident.org": "Reporting office",
    "incident.responsible": "Responsible office",
    "incident.category": "Category",
    "incident.occurred": "Occurred",
    "incident.opened": "Reported",
    "incident.reports": "Reports",
    "incident.acknowledged": "Acknowledged",
    "incident.resolved": "Resolved",
    "incident.alerts": "Alerts by duty room",
    "incident.rooms": "Alerts and reporting deadlines",
    "incident.alert.room": "Duty room",
    "incident.alert.reason": "Why",
    "incident.alert.started": "Started",
    "incident.alert.ack": "Acknowledged",
    "incident.opened_reason.incident_opened": "Incident opened",
    "incident.opened_reason.policy_step": "Escalation policy",
    "incident.opened_reason.statutory": "Statutory reporting",
    "incident.opened_reason.deadline_missed": "Deadline missed",
    "incident.opened_reason.forwarded": "Forwarded",
    "incident.clocks": "Reporting deadlines",
    "incident.clock.target": "Owed to",
    "incident.clock.kind": "Kind",
    "incident.clock.due": "Due",
    "incident.clock.stopped": "Reported / left",
    "incident.clock.missed": "late",
    "incident.position": "Position",
    "incident.no_position": "No report gives coordinates.",
    "incident.map_label": "Sketch of the reported position, north up",
    "incident.coords": "latitude {lat}, longitude {lon}",
    "incident.map_link": "Open in an external map",
    "incident.exports": "Exports",
    "incident.export.json": "JSON",
    "incident.export.csv": "CSV table",
    "incident.export.html": "Web page",
    "incident.export.pdf": "PDF file",
    "incident.timeline": "Timeline",
    "incident.timeline_caption": "{n} entries, chained against tampering",
    "incident.col.seq": "No.",
    "incident.col.at": "Time",
    "incident.col.kind": "Kind",
    "incident.col.actor": "By",
    "incident.col.source": "Source",
    "incident.col.detail": "Details",
    "incident.entry_body": "Entry",
    "incident.reports_received": "Reports as received ({n})",
    "incident.payload": "As received",
  },
});
