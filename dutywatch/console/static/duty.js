// Placeholder until the duty page lands.
import { h, route, t, registerMessages } from "./app.js";

registerMessages({ "zh-CN": { "duty.title": "duty" }, en: { "duty.title": "duty" } });

route("#/duty", (view) => {
  view.append(h("h1", {}, t("duty.title")));
});
