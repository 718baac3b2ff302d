// Review (#/review, #/review/:org/:from/:to): the review figures of a period (default the last
// 7 days) for an organisation of the signed-in person's subtree, from GET /api/v1/review, as
// tables with SVG bar charts drawn here (no chart library), and links to the printable report
// (GET /api/v1/review/report, HTML or PDF) and the incident list (CSV).
import {
  api,
  ApiError,
  data,
  formatDuration,
  go,
  h,
  registerMessages,
  route,
  state,
  t,
} from "./app.js";

const GRADES = ["I", "II", "III", "IV"];
const CATEGORIES = ["natural_disaster", "accident", "public_health", "social_safety"];
const MEASURES = ["time_to_acknowledge", "time_to_report_up", "time_to_resolve"];
const POINTS = ["p50_s", "p90_s", "max_s"];
const DAY_MS = 86_400_000;

registerMessages({
  "zh-CN": {
    "review.title": "复盘",
    "review.period": "统计期间与范围",
    "review.from": "起始日期",
    "review.to": "截止日期（含）",
    "review.org": "单位（含下级）",
    "review.show": "显示",
    "review.report_html": "打印版报告（网页）",
    "review.report_pdf": "打印版报告（PDF）",
    "review.incidents_csv": "事件清单（CSV）",
    "review.summary": "{from} 至 {to}，按首报时间统计",
    "review.incidents": "事件数",
    "review.late": "迟报",
    "review.missing": "漏报",
    "review.omitted": "缺报要素",
    "review.failed_pages": "发送失败的通知",
    "review.by_grade": "按等级",
    "review.by_category": "按类别",
    "review.grade": "等级",
    "review.category": "类别",
    "review.count": "数量",
    "review.grade_name": "{grade}级",
    "review.times": "响应时间",
    "review.measure": "指标",
    "review.with_value": "有值的事件",
    "review.p50": "中位数（P50）",
    "review.p90": "P90",
    "review.p50_short": "P50",
    "review.max": "最长",
    "review.time_to_acknowledge": "首次确认",
    "review.time_to_report_up": "向上级报告",
    "review.time_to_resolve": "处置完毕",
    "review.by_org": "各单位迟报与漏报",
    "review.org_col": "单位",
    "review.levels": "升级层级",
    "review.level": "层级",
    "review.level_name": "上{level}级",
    "review.level_0": "本级",
    "review.level_incidents": "事件数",
    "review.failed_by_channel": "发送失败的通知（按渠道）",
    "review.channel": "渠道",
    "review.none": "本期没有记录。",
    "review.no_value": "—",
    "review.chart": "图：{title}",
    "review.bad_period": "截止日期须不早于起始日期。",
    "review.forbidden": "您的令牌不能查看此单位的复盘统计（需值班员、带班领导或复盘人员的令牌）。",
    "review.supervision": "督办落实（本期应办结的交办事项）",
    "review.value": "数值",
    "review.sup_due": "本期应办结",
    "review.sup_on_time": "按时落实",
    "review.sup_rate": "落实率",
    "review.sup_closed": "已办结",
    "review.sup_days": "平均办结天数",
    "review.sup_rechecks_answered": "回头看已答复",
    "review.sup_rechecks_failed": "回头看未通过",
    "review.sup_overdue": "超期未办（按承办单位）",
    "review.category.natural_disaster": "自然灾害",
    "review.category.accident": "事故灾难",
    "review.category.public_health": "公共卫生事件",
    "review.category.social_safety": "社会安全事件",
    "review.channel.webhook": "Webhook",
    "review.channel.email": "电子邮件",
    "review.channel.sms": "短信",
    "review.channel.nats": "NATS",
    "review.channel.console": "值班台",
  },
  en: {
    "review.title": "Review",
    "review.period": "Period and scope",
    "review.from": "From",
    "review.to": "To (inclusive)",
    "review.org": "Organisation (and below)",
    "review.show": "Show",
    "review.report_html": "Printable report (HTML)",
    "review.report_pdf": "Printable report (PDF)",
    "review.incidents_csv": "Incident list (CSV)",
    "review.summary": "{from} to {to}, by the time of the first report",
    "review.incidents": "Incidents",
    "review.late": "Late reports",
    "review.missing": "Missing reports",
    "review.omitted": "Omitted items",
    "review.failed_pages": "Failed pages",
    "review.by_grade": "By grade",
    "review.by_category": "By category",
    "review.grade": "Grade",
    "review.category": "Category",
    "review.count": "Count",
    "review.grade_name": "Grade {grade}",
    "review.times": "Response times",
    "review.measure": "Measure",
    "review.with_value": "Incidents with a value",
    "review.p50": "Median (p50)",
    "review.p90": "p90",
    "review.p50_short": "p50",
    "review.max": "Longest",
    "review.time_to_acknowledge": "First acknowledgement",
    "review.time_to_report_up": "Report up",
    "review.time_to_resolve": "Resolution",
    "review.by_org": "Late and missing reports by organisation",
    "review.org_col": "Organisation",
    "review.levels": "Escalation levels",
    "review.level": "Level",
    "review.level_name": "{level} up",
    "review.level_0": "Own level",
    "review.level_incidents": "Incidents",
    "review.failed_by_channel": "Failed pages by channel",
    "review.channel": "Channel",
    "review.none": "Nothing recorded in this period.",
    "review.no_value": "—",
    "review.chart": "Chart: {title}",
    "review.bad_period": "The end date must not be before the start date.",
    "review.forbidden":
      "Your token may not read the review figures of this organisation (an officer's, a leader's or a reviewer's token may).",
    "review.supervision": "Supervision: assignments first due in the period",
    "review.value": "Value",
    "review.sup_due": "Due in the period",
    "review.sup_on_time": "Done on time",
    "review.sup_rate": "Completion rate on time",
    "review.sup_closed": "Closed",
    "review.sup_days": "Average days to close",
    "review.sup_rechecks_answered": "Re-checks answered",
    "review.sup_rechecks_failed": "Re-checks failed",
    "review.sup_overdue": "Overdue now, by unit",
    "review.category.natural_disaster": "Natural disaster",
    "review.category.accident": "Accident",
    "review.category.public_health": "Public health event",
    "review.category.social_safety": "Social safety event",
    "review.channel.webhook": "Webhook",
    "review.channel.email": "E-mail",
    "review.channel.sms": "SMS",
    "review.channel.nats": "NATS",
    "review.channel.console": "Console",
  },
});

// ---- dates ------------------------------------------------------------------------------

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The last 7 days, today included, in the browser's local dates. */
function lastWeek() {
  const today = new Date();
  return { from: isoDay(new Date(today.getTime() - 6 * DAY_MS)), to: isoDay(today) };
}

function covers(org) {
  const mine = state.who.org;
  return org === mine || org.startsWith(`${mine}.`);
}

// ---- charts -----------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

/** h() for SVG elements (they need their namespace). */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let chartCount = 0;

/** A horizontal bar chart: bars [{label, value, text, cls, raw}]; the table beside it holds
 * the same numbers for screen readers, so the chart is one labelled image. */
function barChart(title, bars) {
  const id = `review-chart-${++chartCount}`;
  const rowHeight = 26;
  const labelWidth = 150;
  const width = 420;
  const barSpace = width - labelWidth - 84;
  const top = Math.max(1, ...bars.map((bar) => bar.value || 0));
  const height = bars.length * rowHeight + 8;
  return svg(
    "svg",
    {
      class: "review-chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": id,
      preserveAspectRatio: "xMinYMin meet",
    },
    svg("title", { id }, t("review.chart", { title })),
    bars.map((bar, i) => {
      const y = 4 + i * rowHeight;
      const length = Math.round(((bar.value || 0) / top) * barSpace);
      return svg(
        "g",
        { class: `review-bar ${bar.cls || ""}`, "data-label": bar.key },
        svg(
          "text",
          {
            x: labelWidth - 8,
            y: y + 18,
            "text-anchor": "end",
            class: "review-chart-label",
            translate: bar.raw ? "no" : null,
          },
          bar.label,
        ),
        svg("rect", {
          x: labelWidth,
          y: y + 4,
          width: Math.max(length, bar.value ? 2 : 0),
          height: rowHeight - 10,
          rx: 3,
        }),
        svg(
          "text",
          { x: labelWidth + length + 6, y: y + 18, class: "review-chart-value" },
          bar.text,
        ),
      );
    }),
  );
}

// ---- tables -----------------------------------------------------------------------------

function table(id, headers, rows) {
  return h(
    "table",
    { id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((key) => h("th", { scope: "col" }, t(key))),
      ),
    ),
    h("tbody", {}, rows),
  );
}

/** A number cell the tests compare with the API: data-figure names it, data-value holds it. */
function figure(name, value, text = value) {
  return h(
    "td",
    { class: "num", dataset: { figure: name, value: value ?? "" } },
    text ?? t("review.no_value"),
  );
}

function duration(seconds) {
  return seconds === null || seconds === undefined ? t("review.no_value") : formatDuration(seconds);
}

function levelName(level) {
  return level === 0 ? t("review.level_0") : t("review.level_name", { level });
}

function channelName(channel) {
  const key = `review.channel.${channel}`;
  return ["webhook", "email", "sms", "nats", "console"].includes(channel) ? t(key) : data(channel);
}

function block(title, id, ...content) {
  return h(
    "section",
    { class: "panel review-block", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    ...content,
  );
}

function totals(figures) {
  const items = [
    ["incidents", "review.incidents", figures.incidents],
    ["late", "review.late", figures.late],
    ["missing", "review.missing", figures.missing],
    ["omitted_items", "review.omitted", figures.omitted_items],
    ["failed_pages.total", "review.failed_pages", figures.failed_pages.total],
  ];
  return h(
    "dl",
    { class: "review-totals", id: "review-totals" },
    items.map(([name, key, value]) =>
      h(
        "div",
        { class: value && name !== "incidents" ? "review-total review-total-bad" : "review-total" },
        h("dt", {}, t(key)),
        h("dd", { dataset: { figure: name, value } }, String(value)),
      ),
    ),
  );
}

function gradeBlock(figures) {
  const rows = GRADES.map((grade) => {
    const n = figures.by_grade[grade] || 0;
    return h(
      "tr",
      {},
      h(
        "th",
        { scope: "row" },
        h("span", { class: `grade grade-${grade}` }, t("review.grade_name", { grade })),
      ),
      figure(`by_grade.${grade}`, n),
    );
  });
  const chart = barChart(
    t("review.by_grade"),
    GRADES.map((grade) => ({
      key: grade,
      label: t("review.grade_name", { grade }),
      value: figures.by_grade[grade] || 0,
      text: figures.by_grade[grade] || 0,
      cls: `review-bar-${grade}`,
    })),
  );
  return block(t("review.by_grade"), "review-grade", [
    table("review-grade-table", ["review.grade", "review.count"], rows),
    chart,
  ]);
}

function categoryBlock(figures) {
  const extra = Object.keys(figures.by_category).filter((c) => !CATEGORIES.includes(c));
  const all = [...CATEGORIES, ...extra];
  const label = (c) => (CATEGORIES.includes(c) ? t(`review.category.${c}`) : data(c));
  const rows = all.map((c) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, label(c)),
      figure(`by_category.${c}`, figures.by_category[c] || 0),
    ),
  );
  const chart = barChart(
    t("review.by_category"),
    all.map((c) => ({
      key: c,
      label: CATEGORIES.includes(c) ? t(`review.category.${c}`) : c,
      raw: !CATEGORIES.includes(c),
      value: figures.by_category[c] || 0,
      text: figures.by_category[c] || 0,
      cls: "review-bar-plain",
    })),
  );
  return block(t("review.by_category"), "review-category", [
    table("review-category-table", ["review.category", "review.count"], rows),
    chart,
  ]);
}

function timesBlock(figures) {
  const rows = MEASURES.map((measure) => {
    const stats = figures[measure];
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, t(`review.${measure}`)),
      figure(`${measure}.count`, stats.count),
      POINTS.map((point) => figure(`${measure}.${point}`, stats[point], duration(stats[point]))),
    );
  });
  const bars = [];
  for (const measure of MEASURES) {
    for (const [point, key] of [
      ["p50_s", "review.p50_short"],
      ["p90_s", "review.p90"],
    ]) {
      const seconds = figures[measure][point];
      bars.push({
        key: `${measure}.${point}`,
        label: `${t(`review.${measure}`)} ${t(key)}`,
        value: seconds || 0,
        text: duration(seconds),
        cls: point === "p50_s" ? "review-bar-p50" : "review-bar-p90",
      });
    }
  }
  return block(
    t("review.times"),
    "review-times",
    table(
      "review-times-table",
      ["review.measure", "review.with_value", "review.p50", "review.p90", "review.max"],
      rows,
    ),
    barChart(t("review.times"), bars),
  );
}

function orgBlock(figures) {
  if (!figures.by_org.length)
    return block(t("review.by_org"), "review-org", h("p", { class: "muted" }, t("review.none")));
  const rows = figures.by_org.map((o) =>
    h(
      "tr",
      { dataset: { org: o.org } },
      h("th", { scope: "row" }, data(o.org)),
      figure(`by_org.${o.org}.incidents`, o.incidents),
      h(
        "td",
        {
          class: o.late ? "num late" : "num",
          dataset: { figure: `by_org.${o.org}.late`, value: o.late },
        },
        String(o.late),
      ),
      h(
        "td",
        {
          class: o.missing ? "num late" : "num",
          dataset: { figure: `by_org.${o.org}.missing`, value: o.missing },
        },
        String(o.missing),
      ),
      figure(`by_org.${o.org}.omitted_items`, o.omitted_items),
    ),
  );
  return block(
    t("review.by_org"),
    "review-org",
    table(
      "review-org-table",
      ["review.org_col", "review.incidents", "review.late", "review.missing", "review.omitted"],
      rows,
    ),
  );
}

function levelsBlock(figures) {
  const levels = figures.escalation_levels;
  if (!levels.length)
    return block(t("review.levels"), "review-levels", h("p", { class: "muted" }, t("review.none")));
  const rows = levels.map((l) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, levelName(l.level)),
      figure(`escalation_levels.${l.level}`, l.incidents),
    ),
  );
  const chart = barChart(
    t("review.levels"),
    levels.map((l) => ({
      key: String(l.level),
      label: levelName(l.level),
      value: l.incidents,
      text: l.incidents,
      cls: "review-bar-plain",
    })),
  );
  return block(t("review.levels"), "review-levels", [
    table("review-levels-table", ["review.level", "review.level_incidents"], rows),
    chart,
  ]);
}

/** 督办: the supervision figures of the assignments first due in the period. */
function supervisionBlock(figures) {
  const s = figures.supervision;
  if (!s) return null;
  const rate = s.completion_rate === null ? null : `${Math.round(s.completion_rate * 100)}%`;
  const days = s.average_days_to_close === null ? null : s.average_days_to_close.toFixed(1);
  const rows = [
    ["due", "review.sup_due", s.due, s.due],
    ["on_time", "review.sup_on_time", s.on_time, s.on_time],
    ["completion_rate", "review.sup_rate", s.completion_rate, rate],
    ["closed", "review.sup_closed", s.closed, s.closed],
    ["average_days_to_close", "review.sup_days", s.average_days_to_close, days],
    ["rechecks_answered", "review.sup_rechecks_answered", s.rechecks_answered, s.rechecks_answered],
    ["rechecks_failed", "review.sup_rechecks_failed", s.rechecks_failed, s.rechecks_failed],
  ].map(([name, key, value, text]) =>
    h("tr", {}, h("th", { scope: "row" }, t(key)), figure(`supervision.${name}`, value, text)),
  );
  const overdue = Object.entries(s.overdue_by_unit);
  return block(
    t("review.supervision"),
    "review-supervision",
    table("review-supervision-table", ["review.measure", "review.value"], rows),
    h("h3", {}, t("review.sup_overdue")),
    overdue.length
      ? table(
          "review-overdue-table",
          ["review.org_col", "review.count"],
          overdue.map(([unit, n]) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, data(unit)),
              figure(`supervision.overdue_by_unit.${unit}`, n),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("review.none")),
  );
}

function failedBlock(figures) {
  const channels = Object.entries(figures.failed_pages.by_channel);
  if (!channels.length)
    return block(
      t("review.failed_by_channel"),
      "review-failed",
      h("p", { class: "muted" }, t("review.none")),
    );
  const rows = channels.map(([channel, n]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, channelName(channel)),
      figure(`failed_pages.by_channel.${channel}`, n),
    ),
  );
  return block(
    t("review.failed_by_channel"),
    "review-failed",
    table("review-failed-table", ["review.channel", "review.count"], rows),
  );
}

// ---- the page ---------------------------------------------------------------------------

function query(period, extra) {
  const params = new URLSearchParams({
    org: period.org,
    from: period.from,
    to: period.to,
    ...extra,
  });
  return params.toString();
}

function form(period, orgs) {
  const input = (id, key, value) => [
    h("label", { for: id }, t(key)),
    h("input", { id, name: id, type: "date", value, required: true }),
  ];
  const submit = (event) => {
    event.preventDefault();
    const from = document.getElementById("review-from").value;
    const to = document.getElementById("review-to").value;
    const org = document.getElementById("review-org").value;
    if (!from || !to || to < from) {
      document.getElementById("review-form-error").textContent = t("review.bad_period");
      return;
    }
    go(`#/review/${encodeURIComponent(org)}/${from}/${to}`);
  };
  const lang = state.lang === "en" ? "en" : "zh";
  return h(
    "form",
    {
      id: "review-form",
      class: "panel review-form",
      onsubmit: submit,
      "aria-labelledby": "review-form-title",
    },
    h("h2", { id: "review-form-title", class: "visually-hidden" }, t("review.period")),
    h("div", { class: "review-field" }, input("review-from", "review.from", period.from)),
    h("div", { class: "review-field" }, input("review-to", "review.to", period.to)),
    h(
      "div",
      { class: "review-field" },
      h("label", { for: "review-org" }, t("review.org")),
      h(
        "select",
        { id: "review-org", name: "org" },
        orgs.map((o) =>
          h(
            "option",
            { value: o.path, selected: o.path === period.org, translate: "no" },
            `${o.name} (${o.path})`,
          ),
        ),
      ),
    ),
    h("button", { type: "submit", class: "primary", id: "review-show" }, t("review.show")),
    h(
      "p",
      { class: "review-links" },
      h(
        "a",
        {
          id: "review-report-html",
          href: `/api/v1/review/report?${query(period, { format: "html", lang })}`,
          target: "_blank",
          rel: "noopener",
        },
        t("review.report_html"),
      ),
      h(
        "a",
        {
          id: "review-report-pdf",
          href: `/api/v1/review/report?${query(period, { format: "pdf", lang })}`,
        },
        t("review.report_pdf"),
      ),
      h(
        "a",
        {
          id: "review-incidents-csv",
          href: `/api/v1/review/incidents?${query(period, { format: "csv" })}`,
        },
        t("review.incidents_csv"),
      ),
    ),
    h("p", { id: "review-form-error", class: "error", role: "alert" }),
  );
}

async function render(view, params) {
  chartCount = 0;
  const period = {
    org: params.org || state.who.org,
    ...(params.from ? { from: params.from, to: params.to } : lastWeek()),
  };
  view.append(h("h1", {}, t("review.title")));
  const listed = await api("/api/v1/orgs");
  const orgs = listed.orgs.filter((o) => covers(o.path));
  view.append(form(period, orgs));
  let figures;
  try {
    figures = await api(`/api/v1/review?${query(period, {})}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    view.append(
      h("p", { id: "review-forbidden", class: "error", role: "alert" }, t("review.forbidden")),
    );
    return;
  }
  const name = orgs.find((o) => o.path === period.org)?.name || period.org;
  view.append(
    h(
      "div",
      { id: "review-figures", dataset: { org: figures.org, from: figures.from, to: figures.to } },
      h(
        "p",
        { class: "review-summary" },
        data(name, "strong"),
        " · ",
        t("review.summary", { from: period.from, to: period.to }),
      ),
      totals(figures),
      h(
        "div",
        { class: "review-grid" },
        gradeBlock(figures),
        categoryBlock(figures),
        timesBlock(figures),
        levelsBlock(figures),
        orgBlock(figures),
        failedBlock(figures),
        supervisionBlock(figures),
      ),
    ),
  );
}

route("#/review", render);
route("#/review/:org/:from/:to", render);
