// The console's live feeds: the signed-in person's pages (GET /api/v1/pages/live) and the
// incident events of their organisations (GET /api/v1/incidents/live), kept open while
// signed in, whatever page is shown.
//
// Pages call onLive(listener); a listener gets {type: "page" | "incident" | "open", data}.
// "open" comes whenever a feed (re)connects: a page refetches then, so nothing missed while
// the stream was down stays missing (the feeds also resume from Last-Event-ID themselves).
// A new page beeps (WebAudio, no file) and shows a browser notification when permitted.
// #conn in the bar says whether the feeds are live (data-state="live") or lost ("lost").

import { registerMessages, state, t } from "./app.js";

const RETRY_MS = [1000, 2000, 4000, 8000];
const listeners = new Set();
let feeds = [];

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

/** One SSE feed that reconnects by itself: EventSource retries a broken stream (with
 * Last-Event-ID), and when it gives up (an error answer) a new one starts after the last id. */
class Feed {
  constructor(path, kind) {
    this.path = path;
    this.kind = kind;
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
      emit("open", { feed: this.kind });
    });
    source.addEventListener(this.kind, (event) => {
      this.lastId = event.lastEventId || this.lastId;
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      emit(this.kind, data);
    });
    source.addEventListener("error", () => {
      this.setLive(false);
      if (!state.who) {
        // The session ended (the page shows the sign-in form): signing in starts new feeds.
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
  const live = feeds.length > 0 && feeds.every((f) => f.live);
  conn.dataset.state = feeds.length === 0 ? "idle" : live ? "live" : "lost";
  conn.textContent = feeds.length === 0 ? "" : t(live ? "conn.live" : "conn.lost");
}

function start() {
  stop();
  feeds = [new Feed("/api/v1/incidents/live", "incident")];
  // The pages feed is a person's: a token without one (an office, the administrator) has none.
  if (state.who && state.who.person_id) feeds.push(new Feed("/api/v1/pages/live", "page"));
  showState();
  if ("Notification" in window && Notification.permission === "default") {
    // Asked once; a browser that blocks the question without a click just says no.
    Notification.requestPermission().catch(() => {});
  }
}

function stop() {
  for (const feed of feeds) feed.close();
  feeds = [];
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
  },
  en: {
    "conn.live": "Live",
    "conn.lost": "Connection lost, reconnecting",
    "live.paged_title": "You are paged",
  },
});
