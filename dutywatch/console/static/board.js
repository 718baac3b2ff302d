// Placeholder until the board page lands.
import { h, route, t, registerMessages } from "./app.js";

registerMessages({ "zh-CN": { "board.title": "board" }, en: { "board.title": "board" } });

route("#/board", (view) => {
  view.append(h("h1", {}, t("board.title")));
});
