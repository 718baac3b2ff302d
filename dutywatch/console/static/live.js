// The console's live stream: the signed-in person's pages and the incident events of their
// organisations on ONE connection per tab (GET /api/v1/console/live; browsers allow six
// HTTP/1.1 connections per origin, and two streams per tab left three tabs none for their own
// requests), kept open while signed in, whatever page is shown.
//
// Pages call onLive(listener); a listener gets {type: "page" | "incident" | "open", data}.
// "open" comes whenever the stream (re)connects: a page refetches then, so nothing missed
// while the stream was down stays missing (the stream also resumes from Last-Event-ID itself:
// each id is "p<seq>-e<seq>", the position in both of the service's streams, and the first
// event, "ready", gives it before anything else comes).
// A new page beeps (WebAudio, no file) and shows a browser notification when permitted; the
// bar's #notify button asks for that permission (browsers want a click to ask).
// #conn in the bar says whether the stream is live (data-state="live") or lost ("lost").

import { registerMessages, state, t, toast } from "./app.js";

const RETRY_MS = [1000, 2000, 4000, 8000];
const listeners = new Set();
let feed = null;

export function onLive(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(type, data = null) {
  for (const listener of listeners) {
    try {
      listener({ type, data });
    } catch (error) {
      console.error(error);
    }
  }
}

const STREAM = "/api/v1/console/live";
const KINDS = ["page", "incident"];

/** The SSE stream, reconnecting by itself: EventSource retries a broken stream (with
 * Last-Event-ID), and when it gives up (an error answer) a new one starts after the last id. */
class Feed {
  constructor(path) {
    this.path = path;
    this.lastId = null;
    this.live = false;
    this.failures = 0;
    this.source = null;
    this.timer = null;
    this.closed = false;
    this.connect();
  }

  connect() {
    const url = this.lastId === null ? this.path : `${this.path}?after=${encodeURIComponent(this.lastId)}`;
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener("open", () => {
      this.failures = 0;
      this.setLive(true);
      emit("open");
    });
    source.addEventListener("ready", (event) => {
      this.lastId = event.lastEventId || this.lastId;
    });
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        this.lastId = event.lastEventId || this.lastId;
        let data = null;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        emit(kind, data);
      });
    }
    source.addEventListener("error", () => {
      this.setLive(false);
      if (!state.who) {
        // The session ended (the page shows the sign-in form): signing in starts a new one.
        this.close();
        return;
      }
      if (source.readyState === EventSource.CLOSED && !this.closed) {
        // The browser will not retry this one (an error answer): start another later.
        const wait = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
        this.failures += 1;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.connect(), wait);
      }
    });
  }

  setLive(live) {
    this.live = live;
    showState();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
}

function showState() {
  const conn = document.getElementById("conn");
  if (!conn) return;
  conn.dataset.state = feed === null ? "idle" : feed.live ? "live" : "lost";
  conn.textContent = feed === null ? "" : t(feed.live ? "conn.live" : "conn.lost");
}

function start() {
  stop();
  // One stream: it carries pages only for a token that belongs to a person.
  feed = new Feed(STREAM);
  showState();
  showNotifyButton();
}

function stop() {
  if (feed) feed.close();
  feed = null;
  showState();
}

// ---- attention: a beep and a notification for each new page --------------------------

let audio = null;

// Browsers let a page make sound only after the person interacted with it: the first key or
// click on the console readies the audio, so a page arriving later in the night is heard.
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(
    type,
    () => {
      try {
        audio = audio || new AudioContext();
        audio.resume();
      } catch {
        // No audio here: pages still show.
      }
    },
    { once: true, capture: true },
  );
}

/** A short two-tone beep made by WebAudio: no sound file to serve. */
export function beep() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [offset, frequency] of [
      [0, 880],
      [0.18, 660],
    ]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.16);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.17);
    }
    window.__dwBeeps = (window.__dwBeeps || 0) + 1;
  } catch {
    // No audio device: the board still shows the page.
  }
}

function notify(page) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const note = new Notification(t("live.paged_title"), {
      body: page.title || "",
      tag: `page-${page.page_id ?? page.incident_id}`,
    });
    note.onclick = () => {
      window.focus();
      location.hash = `#/incident/${page.incident_id}`;
    };
  } catch {
    // Some browsers allow notifications only from a service worker: the beep remains.
  }
}

// ---- the bar's "Enable notifications" button ---------------------------------------------

/** Shown while the browser could notify but has not been allowed to (hidden when it is, or
 * when the browser has no notifications). Browsers ask only after a click on the page. */
function showNotifyButton() {
  const button = document.getElementById("notify");
  if (!button) return;
  button.hidden = !("Notification" in window) || Notification.permission === "granted";
}

async function askToNotify() {
  let answer = "default";
  try {
    answer = await Notification.requestPermission();
  } catch {
    // An old browser's callback form, or none at all: the state below says what came of it.
    answer = "Notification" in window ? Notification.permission : "default";
  }
  showNotifyButton();
  if (answer === "granted") toast(t("live.notify_on"));
  else if (answer === "denied") toast(t("live.notify_blocked"), "error");
}

document.getElementById("notify")?.addEventListener("click", () => {
  if ("Notification" in window) askToNotify();
});
// Allowed or blocked from the browser's own settings: the button follows.
navigator.permissions
  ?.query({ name: "notifications" })
  .then((status) => status.addEventListener("change", showNotifyButton))
  .catch(() => {});

onLive(({ type, data }) => {
  if (type !== "page") return;
  beep();
  notify(data);
});

document.addEventListener("dw:signed-in", start);
document.addEventListener("dw:signed-out", stop);
document.addEventListener("dw:language", showState);

registerMessages({
  "zh-CN": {
    "conn.live": "实时",
    "conn.lost": "连接中断，正在重连",
    "live.paged_title": "新的呼叫",
    "live.notify": "开启通知",
    "live.notify_on": "已开启通知：新的呼叫会弹出提醒。",
    "live.notify_blocked": "浏览器已禁止本站的通知，请在浏览器的网站设置中允许。",
  },
  en: {
    "conn.live": "Live",
    "conn.lost": "Connection lost, reconnecting",
    "live.paged_title": "You are paged",
    "live.notify": "Enable notifications",
    "live.notify_on": "Notifications are on: a new page pops up.",
    "live.notify_blocked": "The browser blocks notifications from this site; allow them in its site settings.",
  },
});
