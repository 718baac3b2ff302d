// The console's core: sign-in, the API client, translations, the hash router and a small DOM
// builder. Each page is a module in this folder that registers its route and its strings;
// nothing here knows about boards or timelines.
//
// Conventions every page follows:
// - Text shown to a person comes from t(key); data from the service (titles, names, notes) is
//   put in an element with translate="no" so the language checks can tell the two apart.
// - DOM is built with h(); no innerHTML, so nothing the service returns is ever parsed as HTML.
// - A page's render(view, params) returns a cleanup function (or nothing); it is called when
//   the route changes.

const PAGES = ["board", "incident", "duty", "review", "supervision"];
const LANGS = ["zh-CN", "en"];
const catalogues = { "zh-CN": {}, en: {} };
const routes = [];
let cleanup = null;

export const state = {
  who: null,
  lang: localStorage.getItem("dw.lang") || "zh-CN",
};

/** Strings a page asked for that no catalogue holds: the tests read this and expect none. */
window.__dwMissing = new Set();

export function registerMessages(messages) {
  for (const lang of LANGS) Object.assign(catalogues[lang], messages[lang] || {});
}

export function t(key, vars = {}) {
  const text = catalogues[state.lang][key];
  if (text === undefined) {
    window.__dwMissing.add(`${state.lang}:${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Every key in one language must be in the other: the tests call this. */
window.__dwCatalogueGaps = () => {
  const gaps = [];
  for (const lang of LANGS) {
    for (const other of LANGS) {
      for (const key of Object.keys(catalogues[other])) {
        if (!(key in catalogues[lang])) gaps.push(`${lang}:${key}`);
      }
    }
  }
  return gaps;
};

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Data from the service: shown as is, in its own language, never translated. */
export function data(value, tag = "span", attrs = {}) {
  return h(tag, { translate: "no", ...attrs }, value ?? "");
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("dw_csrf");
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && path !== "/console/session") {
    showLogin(t("login.expired"));
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export function toast(message, kind = "ok") {
  const box = document.getElementById("toast");
  const item = h("p", { class: `toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 8000);
}

// ---- time -------------------------------------------------------------------------------

export function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(state.lang, {
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

/** "3 h 04 min" / "3小时04分": a duration in seconds, signed. */
export function formatDuration(seconds) {
  const sign = seconds < 0 ? "-" : "";
  let s = Math.abs(Math.round(seconds));
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (hours) return sign + t("time.hm", { h: hours, m: pad(minutes) });
  if (minutes) return sign + t("time.ms", { m: minutes, s: pad(s) });
  return sign + t("time.s", { s });
}

// ---- routing ----------------------------------------------------------------------------

/** route("#/incident/:id", render): render(view, {id}) when the hash matches. */
export function route(pattern, render) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ regex: new RegExp(`^${source}$`), names, render });
}

export function go(hash) {
  if (location.hash === hash) showRoute();
  else location.hash = hash;
}

async function showRoute() {
  if (!state.who) return;
  const hash = location.hash || "#/board";
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const view = document.getElementById("view");
  view.replaceChildren();
  for (const { regex, names, render } of routes) {
    const match = regex.exec(hash);
    if (!match) continue;
    const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1])]));
    for (const link of document.querySelectorAll("#bar nav a")) {
      link.toggleAttribute("aria-current", hash.startsWith(link.getAttribute("href")));
    }
    try {
      cleanup = await render(view, params);
    } catch (error) {
      view.append(h("p", { class: "error", role: "alert" }, t("app.failed", { reason: error.message })));
    }
    return;
  }
  view.append(h("p", {}, t("app.not_found")));
}

// ---- language ---------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-aria]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAria));
  }
  document.title = t("app.title");
  for (const id of ["lang", "login-lang"]) document.getElementById(id).value = state.lang;
}

export function setLanguage(lang) {
  state.lang = LANGS.includes(lang) ? lang : "zh-CN";
  localStorage.setItem("dw.lang", state.lang);
  applyLanguage();
  document.dispatchEvent(new CustomEvent("dw:language"));
  showRoute();
}

// ---- sign-in ----------------------------------------------------------------------------

function showLogin(message = "") {
  state.who = null;
  document.getElementById("bar").hidden = true;
  document.getElementById("view").replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
  document.getElementById("token").focus();
}

function signedIn(who) {
  state.who = who;
  document.getElementById("login").hidden = true;
  document.getElementById("bar").hidden = false;
  document.getElementById("who").textContent = who.person_id || who.label;
  document.getElementById("who").title = `${who.role} · ${who.org}`;
  document.dispatchEvent(new CustomEvent("dw:signed-in"));
  showRoute();
}

async function signIn(event) {
  event.preventDefault();
  const field = document.getElementById("token");
  try {
    const who = await api("/console/session", { method: "POST", body: { token: field.value } });
    field.value = "";
    signedIn(who);
  } catch (error) {
    document.getElementById("login-error").textContent = t("login.failed", {
      reason: error.message,
    });
  }
}

async function signOut() {
  document.dispatchEvent(new CustomEvent("dw:signed-out"));
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  try {
    await api("/console/session", { method: "DELETE" });
  } finally {
    showLogin();
  }
}

registerMessages({
  "zh-CN": {
    "app.title": "值班台",
    "app.skip": "跳到正文",
    "app.nav": "主导航",
    "app.language": "语言",
    "app.logout": "退出",
    "app.failed": "加载失败：{reason}",
    "app.not_found": "没有这个页面。",
    "login.title": "登录值班台",
    "login.token": "令牌",
    "login.hint": "使用管理员发放的令牌（dutywatch token create）。",
    "login.submit": "登录",
    "login.failed": "登录失败：{reason}",
    "login.expired": "登录已失效，请重新登录。",
    "nav.board": "待办",
    "nav.duty": "值班",
    "nav.review": "复盘",
    "time.hm": "{h}小时{m}分",
    "time.ms": "{m}分{s}秒",
    "time.s": "{s}秒",
  },
  en: {
    "app.title": "Duty console",
    "app.skip": "Skip to content",
    "app.nav": "Main navigation",
    "app.language": "Language",
    "app.logout": "Sign out",
    "app.failed": "Could not load: {reason}",
    "app.not_found": "There is no such page.",
    "login.title": "Sign in to the duty console",
    "login.token": "Token",
    "login.hint": "Use the token an administrator gave you (dutywatch token create).",
    "login.submit": "Sign in",
    "login.failed": "Could not sign in: {reason}",
    "login.expired": "Your session has ended; sign in again.",
    "nav.board": "Board",
    "nav.duty": "On duty",
    "nav.review": "Review",
    "time.hm": "{h} h {m} min",
    "time.ms": "{m} min {s} s",
    "time.s": "{s} s",
  },
});

async function start() {
  await Promise.all(PAGES.map((page) => import(`./${page}.js`)));
  document.getElementById("login-form").addEventListener("submit", signIn);
  document.getElementById("logout").addEventListener("click", signOut);
  for (const id of ["lang", "login-lang"]) {
    document.getElementById(id).addEventListener("change", (e) => setLanguage(e.target.value));
  }
  window.addEventListener("hashchange", showRoute);
  applyLanguage();
  try {
    signedIn(await api("/console/session"));
  } catch {
    showLogin();
  }
  document.body.dataset.ready = "true";
}

start();
