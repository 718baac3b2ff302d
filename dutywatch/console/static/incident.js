// Placeholder until the incident page lands.
import { h, route, t, registerMessages } from "./app.js";

registerMessages({ "zh-CN": { "incident.title": "incident" }, en: { "incident.title": "incident" } });

route("#/incident/:id", (view) => {
  view.append(h("h1", {}, t("incident.title")));
});
