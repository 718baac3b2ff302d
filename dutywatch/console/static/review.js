// Placeholder until the review page lands.
import { h, route, t, registerMessages } from "./app.js";

registerMessages({ "zh-CN": { "review.title": "review" }, en: { "review.title": "review" } });

route("#/review", (view) => {
  view.append(h("h1", {}, t("review.title")));
});
