// On duty (#/duty): who is on duty now and next in every duty room of the signed-in person's
// subtree, with the gaps of the next 24 hours (值班空档) in words and colour; and the person's
// own shifts of the next 14 days. Reads GET /api/v1/oncall/overview and
// GET /api/v1/people/{person}/shifts; refreshes every minute.
import { api, data, formatTime, h, registerMessages, route, state, t } from "./app.js";

const REFRESH_MS = 60_000;
const ROLES = ["duty_officer", "leader_on_duty", "deputy_officer", "standby"];

registerMessages({
  "zh-CN": {
    "duty.title": "值班",
    "duty.rooms": "各值班室",
    "duty.rooms_hint": "现在与接下来在岗的人员；未来{hours}小时内无人在岗的时段为空档。",
    "duty.refresh": "刷新",
    "duty.updated": "更新于 {time}",
    "duty.gap": "有空档",
    "duty.covered": "有人在岗",
    "duty.no_roster": "无值班表：事件上报至上级值班室",
    "duty.role": "岗位",
    "duty.now": "现在",
    "duty.next": "接下来",
    "duty.gaps": "空档",
    "duty.nobody": "无人在岗",
    "duty.none_planned": "未排班",
    "duty.until": "至 {time}",
    "duty.from": "自 {time}",
    "duty.gap_span": "{from} 至 {to} 无人在岗",
    "duty.no_gaps": "无",
    "duty.summary_gaps": "{count} 个值班室有空档",
    "duty.summary_ok": "所有值班室均有人在岗",
    "duty.mine": "我的班次（未来14天）",
    "duty.mine_none": "未来14天没有您的班次。",
    "duty.mine_nobody": "此令牌未关联人员，没有个人班次。",
    "duty.starts": "开始",
    "duty.ends": "结束",
    "duty.org": "单位",
    "duty.current": "当班中",
    "duty.slot": "{role} {n}",
    "duty.role.duty_officer": "值班员",
    "duty.role.leader_on_duty": "带班领导",
    "duty.role.deputy_officer": "副班",
    "duty.role.standby": "备班",
  },
  en: {
    "duty.title": "On duty",
    "duty.rooms": "Duty rooms",
    "duty.rooms_hint":
      "Who is on duty now and next; a time in the next {hours} hours with nobody on duty is a gap.",
    "duty.refresh": "Refresh",
    "duty.updated": "Updated {time}",
    "duty.gap": "Gap",
    "duty.covered": "Covered",
    "duty.no_roster": "No roster: its incidents go to the parent duty room",
    "duty.role": "Role",
    "duty.now": "Now",
    "duty.next": "Next",
    "duty.gaps": "Gaps",
    "duty.nobody": "Nobody on duty",
    "duty.none_planned": "Nothing planned",
    "duty.until": "until {time}",
    "duty.from": "from {time}",
    "duty.gap_span": "nobody on duty from {from} to {to}",
    "duty.no_gaps": "None",
    "duty.summary_gaps": "{count} duty room(s) with a gap",
    "duty.summary_ok": "Every duty room has someone on duty",
    "duty.mine": "My shifts (next 14 days)",
    "duty.mine_none": "You have no shifts in the next 14 days.",
    "duty.mine_nobody": "This token is not linked to a person, so it has no shifts of its own.",
    "duty.starts": "Starts",
    "duty.ends": "Ends",
    "duty.org": "Organisation",
    "duty.current": "On duty now",
    "duty.slot": "{role} {n}",
    "duty.role.duty_officer": "Duty officer",
    "duty.role.leader_on_duty": "Leader on duty",
    "duty.role.deputy_officer": "Deputy officer",
    "duty.role.standby": "Standby",
  },
});

function roleName(role, slot, count) {
  const name = ROLES.includes(role) ? t(`duty.role.${role}`) : role;
  return count > 1 ? t("duty.slot", { role: name, n: slot + 1 }) : name;
}

function person(shift) {
  return h(
    "span",
    { class: "duty-person" },
    data(shift.name || shift.person_id, "strong"),
    shift.phone ? [" ", data(shift.phone, "span", { class: "muted" })] : null,
  );
}

/** A shift's cell: the person and when the shift ends (now) or starts (next). */
function shiftCell(shift, { column, empty, emptyClass, when }) {
  const label = { label: t(column) };
  if (!shift) return h("td", { class: emptyClass, dataset: label }, t(empty));
  const time = when === "duty.until" ? shift.ends_at : shift.starts_at;
  return h(
    "td",
    { dataset: label },
    person(shift),
    h("br"),
    h("span", { class: "muted" }, t(when, { time: formatTime(time) })),
  );
}

const NOW = {
  column: "duty.now",
  empty: "duty.nobody",
  emptyClass: "duty-nobody",
  when: "duty.until",
};
const NEXT = {
  column: "duty.next",
  empty: "duty.none_planned",
  emptyClass: "muted",
  when: "duty.from",
};

function gapsCell(gaps) {
  const label = { label: t("duty.gaps") };
  if (!gaps.length) return h("td", { class: "muted", dataset: label }, t("duty.no_gaps"));
  return h(
    "td",
    { class: "duty-gaps", dataset: label },
    h(
      "ul",
      {},
      gaps.map((gap) =>
        h(
          "li",
          {},
          t("duty.gap_span", { from: formatTime(gap.starts_at), to: formatTime(gap.ends_at) }),
        ),
      ),
    ),
  );
}

function roomCard(org) {
  const status = !org.rosters.length
    ? h("span", { class: "duty-status duty-status-none" }, t("duty.no_roster"))
    : org.gap
      ? h("span", { class: "duty-status duty-status-gap" }, t("duty.gap"))
      : h("span", { class: "duty-status duty-status-ok" }, t("duty.covered"));
  const counts = {};
  for (const roster of org.rosters) {
    for (const slot of roster.slots) counts[slot.role] = (counts[slot.role] || 0) + 1;
  }
  return h(
    "section",
    {
      class: `panel duty-room${org.gap ? " duty-room-gap" : ""}${org.rosters.length ? "" : " duty-room-none"}`,
      dataset: { org: org.path, gap: String(org.gap) },
      "aria-labelledby": `duty-org-${org.path}`,
    },
    h(
      "h3",
      { id: `duty-org-${org.path}` },
      data(org.name),
      " ",
      data(org.path, "span", { class: "muted duty-path" }),
    ),
    status,
    org.rosters.map((roster) =>
      h(
        "table",
        { class: "duty-slots" },
        h("caption", { class: "visually-hidden" }, data(roster.name)),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["duty.role", "duty.now", "duty.next", "duty.gaps"].map((key) =>
              h("th", { scope: "col" }, t(key)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          roster.slots.map((slot) =>
            h(
              "tr",
              {
                class: slot.gaps.length ? "duty-slot-gap" : null,
                dataset: { role: slot.role, slot: String(slot.slot) },
              },
              h("th", { scope: "row" }, roleName(slot.role, slot.slot, counts[slot.role])),
              shiftCell(slot.now, NOW),
              shiftCell(slot.next, NEXT),
              gapsCell(slot.gaps),
            ),
          ),
        ),
      ),
    ),
  );
}

function myShifts(found, at) {
  if (!found) return h("p", { class: "muted", id: "duty-mine-empty" }, t("duty.mine_nobody"));
  if (!found.shifts.length)
    return h("p", { class: "muted", id: "duty-mine-empty" }, t("duty.mine_none"));
  const now = new Date(at).getTime();
  return h(
    "table",
    { id: "duty-mine-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["duty.starts", "duty.ends", "duty.role", "duty.org"].map((key) =>
          h("th", { scope: "col" }, t(key)),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      found.shifts.map((shift) => {
        const current =
          new Date(shift.starts_at).getTime() <= now && now < new Date(shift.ends_at).getTime();
        return h(
          "tr",
          { class: current ? "duty-current" : null, dataset: { role: shift.role, org: shift.org } },
          h(
            "td",
            { dataset: { label: t("duty.starts") } },
            formatTime(shift.starts_at),
            current ? [" ", h("span", { class: "duty-badge" }, t("duty.current"))] : null,
          ),
          h("td", { dataset: { label: t("duty.ends") } }, formatTime(shift.ends_at)),
          h("td", { dataset: { label: t("duty.role") } }, roleName(shift.role, shift.slot, 1)),
          h("td", { dataset: { label: t("duty.org") } }, data(shift.org)),
        );
      }),
    ),
  );
}

async function load(body) {
  const who = state.who;
  const [outlook, mine] = await Promise.all([
    api(`/api/v1/oncall/overview?org=${encodeURIComponent(who.org)}`),
    who.person_id ? api(`/api/v1/people/${encodeURIComponent(who.person_id)}/shifts`) : null,
  ]);
  const gaps = outlook.orgs.filter((org) => org.gap).length;
  const hours = Math.round((new Date(outlook.until) - new Date(outlook.at)) / 3_600_000);
  body.replaceChildren(
    h(
      "p",
      {
        id: "duty-summary",
        class: gaps ? "duty-summary duty-summary-gap" : "duty-summary",
        role: "status",
      },
      gaps ? t("duty.summary_gaps", { count: gaps }) : t("duty.summary_ok"),
      " · ",
      h("span", { class: "muted" }, t("duty.updated", { time: formatTime(outlook.at) })),
    ),
    h(
      "section",
      { "aria-labelledby": "duty-rooms-title" },
      h("h2", { id: "duty-rooms-title" }, t("duty.rooms")),
      h("p", { class: "muted" }, t("duty.rooms_hint", { hours })),
      h("div", { class: "duty-grid", id: "duty-rooms" }, outlook.orgs.map(roomCard)),
    ),
    h(
      "section",
      { class: "duty-mine", "aria-labelledby": "duty-mine-title" },
      h("h2", { id: "duty-mine-title" }, t("duty.mine")),
      myShifts(mine, outlook.at),
    ),
  );
}

route("#/duty", async (view) => {
  const body = h("div", { id: "duty-body", "aria-live": "polite" });
  const refresh = h(
    "button",
    { type: "button", id: "duty-refresh", onclick: () => load(body) },
    t("duty.refresh"),
  );
  view.append(h("div", { class: "duty-head" }, h("h1", {}, t("duty.title")), refresh), body);
  await load(body);
  const timer = setInterval(() => load(body).catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
});
