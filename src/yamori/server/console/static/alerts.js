// Live alert timeline: Server-Sent Events from /console/alerts/stream with the page's filters;
// polling /console/alerts/feed.json every 2 s where EventSource is missing. Rows are built with
// textContent only: alert text comes from monitored workloads and is never parsed as HTML.
(function () {
  "use strict";
  var table = document.getElementById("alerts");
  var body = document.getElementById("alert-rows");
  var state = document.getElementById("live-state");
  var count = document.getElementById("alert-count");
  if (!table || !body) { return; }
  var lastId = parseInt(table.getAttribute("data-last-id") || "0", 10);
  var filters = new URLSearchParams(window.location.search);

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text || "";
    row.appendChild(td);
    return td;
  }

  function add(alert) {
    if (alert.id <= lastId) { return; }
    lastId = alert.id;
    var row = document.createElement("tr");
    row.className = "fresh";
    row.setAttribute("data-id", String(alert.id));
    cell(row, String(alert.time || "").replace("T", " ").slice(0, 19));
    var prio = document.createElement("span");
    prio.className = "prio prio-" + String(alert.priority || "").toLowerCase();
    prio.textContent = alert.priority;
    cell(row, "").appendChild(prio);
    cell(row, alert.rule);
    var container = cell(row, alert.workload_id ? "" : (alert.container_name || alert.container_id || ""));
    if (alert.workload_id) {
      var link = document.createElement("a");
      link.className = "workload";
      link.href = "/console/assets/" + encodeURIComponent(String(alert.workload_id));
      link.textContent = alert.container_name || alert.container_id || "";
      container.appendChild(link);
    }
    cell(row, (alert.namespace || "") + (alert.pod ? " / " + alert.pod : ""));
    cell(row, alert.hostname);
    cell(row, alert.output, "output");
    body.insertBefore(row, body.firstChild);
    if (count) { count.textContent = String(parseInt(count.textContent || "0", 10) + 1); }
  }

  function url(path) {
    var params = new URLSearchParams(filters);
    params.set("after", String(lastId));
    return path + "?" + params.toString();
  }

  function poll() {
    fetch(url("/console/alerts/feed.json"), { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("logged out"); }
        return r.json();
      })
      .then(function (doc) { doc.items.forEach(add); state.textContent = "live (polling)"; state.className = "live on"; })
      .catch(function () { state.textContent = "reconnecting…"; state.className = "live"; })
      .then(function () { window.setTimeout(poll, 2000); });
  }

  if (!window.EventSource) { poll(); return; }
  var source = new EventSource(url("/console/alerts/stream"));
  source.addEventListener("open", function () { state.textContent = "live"; state.className = "live on"; });
  source.addEventListener("alert", function (event) { add(JSON.parse(event.data)); });
  source.addEventListener("logout", function () { source.close(); window.location.reload(); });
  source.addEventListener("error", function () { state.textContent = "reconnecting…"; state.className = "live"; });
})();
