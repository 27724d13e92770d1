/* recon dashboard: bulk selection on the breaks list, and the auto-refresh while a run is in
   progress (poll <base>/api/status every few seconds, reload when the set of running runs changes).
   No library, nothing from a CDN. */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var WATCH_POLLS = 24; // after "Run now": watch two minutes for the run to start

  function bulk() {
    var all = document.getElementById("select-all");
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input.break-select"));
    var buttons = document.querySelectorAll("button.bulk-button");
    var count = document.getElementById("selected-count");
    function update() {
      var chosen = boxes.filter(function (box) { return box.checked; }).length;
      if (count) { count.textContent = String(chosen); }
      Array.prototype.forEach.call(buttons, function (button) { button.disabled = chosen === 0; });
      if (all) { all.checked = chosen > 0 && chosen === boxes.length; }
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  function poll() {
    var body = document.body;
    var base = body.getAttribute("data-base") || "";
    var running = JSON.parse(body.getAttribute("data-running") || "[]");
    var watching = body.getAttribute("data-watch") === "on";
    if (running.length === 0 && !watching) { return; } // nothing in progress: no refresh
    var polls = 0;
    var key = running.slice().sort().join("\n");
    function tick() {
      polls += 1;
      fetch(base + "/api/status", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) {
          if (!status) { return; }
          var now = status.running.map(function (run) { return run.run_id; }).sort().join("\n");
          if (now !== key) { window.location.reload(); return; }
          if (running.length === 0 && polls >= WATCH_POLLS) { return; }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () { window.setTimeout(tick, POLL_MS * 2); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bulk();
    poll();
  });
})();
