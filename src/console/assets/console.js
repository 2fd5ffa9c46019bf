// scimgate console: the live tail (Server-Sent Events) and the playground form. Hand-written,
// no dependencies. Text from the server goes into the page through textContent; the live
// tail's exchange HTML is rendered and escaped by the server (the same fragment the page has).
"use strict";

(function liveTail() {
  const status = document.getElementById("live");
  const list = document.getElementById("exchanges");
  if (!status || !list || !window.EventSource) return;
  const tenant = status.dataset.stream || "";
  const url = "/api/exchanges/stream" + (tenant ? "?tenant=" + encodeURIComponent(tenant) : "");
  const source = new EventSource(url);
  const keep = 200;
  source.onopen = function () {
    status.textContent = "live tail: connected" + (tenant ? " (" + tenant + ")" : " (all tenants)");
    status.classList.add("on");
  };
  source.onerror = function () {
    status.textContent = "live tail: reconnecting…";
    status.classList.remove("on");
  };
  source.addEventListener("exchange", function (e) {
    let data;
    try { data = JSON.parse(e.data); } catch (_) { return; }
    const seq = String(data.exchange && data.exchange.seq);
    if (list.querySelector('details[data-seq="' + seq + '"]')) return;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const t = document.createElement("template");
    t.innerHTML = data.html;
    const node = t.content.firstElementChild;
    if (!node) return;
    node.classList.add("fresh");
    list.insertBefore(node, list.firstChild);
    while (list.children.length > keep) list.lastElementChild.remove();
  });
  source.addEventListener("lagged", function (e) {
    status.textContent = "live tail: " + e.data + " exchanges skipped (reading too slowly)";
  });
})();

(function playground() {
  const form = document.getElementById("playground");
  if (!form) return;
  const out = document.getElementById("pg-result");
  const pick = document.getElementById("pg-tenant");
  pick.addEventListener("change", function () {
    const t = pick.value;
    window.location.href = "/playground" + (t ? "?tenant=" + encodeURIComponent(t) : "");
  });
  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const text = document.getElementById("pg-body").value;
    let body = null;
    if (text.trim() !== "") {
      try { body = JSON.parse(text); } catch (_) { body = text; }
    }
    const question = {
      policy: document.getElementById("pg-policy").value,
      request: {
        method: document.getElementById("pg-method").value,
        path: document.getElementById("pg-path").value,
        body: body,
      },
      direction: document.getElementById("pg-direction").value,
      status: parseInt(document.getElementById("pg-status").value, 10) || 200,
    };
    out.textContent = "…";
    try {
      const r = await fetch("/api/translate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(question),
        credentials: "same-origin",
      });
      const answer = await r.json();
      out.textContent = answer.text ? answer.text : JSON.stringify(answer, null, 2);
      out.dataset.status = String(r.status);
    } catch (err) {
      out.textContent = "the console did not answer: " + err;
    }
  });
})();
