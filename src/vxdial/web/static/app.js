// vxdial web interface: live updates (polling small JSON endpoints every 2 s), the
// campaign chart, and the upload's progress bar. Every page works without it.
"use strict";
(function () {
  const POLL_MS = 2000;
  const MAX_SAMPLES = 720;
  const SVG = "http://www.w3.org/2000/svg";
  const ACTIONS = { active: ["pause", "cancel"], paused: ["resume", "cancel"] };
  const FINAL = ["completed", "failed", "expired", "canceled"];

  function poll(url, onData) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      if (!document.hidden) {
        try {
          const response = await fetch(typeof url === "function" ? url() : url, { headers: { Accept: "application/json" }, cache: "no-store" });
          if (response.status === 401) { window.location.assign("/web/login"); return; }
          if (response.ok) onData(await response.json());
          else if (response.status === 404) stopped = true;
        } catch (e) { /* the server is away for a moment: try again next tick */ }
      }
      window.setTimeout(tick, POLL_MS);
    }
    window.setTimeout(tick, POLL_MS);
  }

  function setState(element, state) {
    if (!element) return;
    element.textContent = state;
    element.className = element.className.replace(/\bstate-\S+/g, "").trim() + " state-" + state;
  }

  function updateSummary(root, data) {
    setState(root.querySelector(".state"), data.state);
    for (const [state, n] of Object.entries(data.counts)) {
      const cell = root.querySelector('[data-count="' + state + '"]');
      if (cell) cell.textContent = String(n);
    }
    const done = FINAL.reduce((sum, s) => sum + (data.counts[s] || 0), 0);
    const bar = root.querySelector("progress");
    if (bar) { bar.max = data.total || 1; bar.value = done; bar.textContent = done + " of " + data.total; }
    const text = root.querySelector("[data-progress-text]");
    if (text) text.textContent = done + " of " + data.total + " finished";
    const total = root.querySelector("[data-total]");
    if (total) total.textContent = String(data.total);
    const allowed = ACTIONS[data.state] || [];
    root.querySelectorAll("[data-steer] form[data-action]").forEach((form) => {
      form.hidden = !allowed.includes(form.dataset.action);
    });
  }

  function drawChart(svg, history) {
    while (svg.lastChild && svg.lastChild.nodeName !== "title") svg.removeChild(svg.lastChild);
    const W = 600, H = 200, PAD = 4;
    const axis = document.createElementNS(SVG, "line");
    axis.setAttribute("class", "axis");
    axis.setAttribute("x1", "0"); axis.setAttribute("x2", String(W));
    axis.setAttribute("y1", String(H - PAD)); axis.setAttribute("y2", String(H - PAD));
    svg.appendChild(axis);
    if (!history.length) return;
    const t0 = history[0].t, t1 = history[history.length - 1].t;
    let top = 1;
    for (const sample of history) for (const n of Object.values(sample.counts)) top = Math.max(top, n);
    const scale = document.getElementById("chart-scale");
    if (scale) {
      const time = (t) => new Date(t).toLocaleTimeString();
      scale.textContent = "Height: 0 to " + top + " calls. Time: " + time(t0) + " to " + time(t1) + ".";
    }
    const states = Object.keys(history[history.length - 1].counts);
    for (const state of states) {
      if (!history.some((s) => s.counts[state] > 0)) continue;
      const points = history.map((s, i) => {
        const x = t1 > t0 ? ((s.t - t0) / (t1 - t0)) * W : (history.length > 1 ? (i / (history.length - 1)) * W : 0);
        const y = H - PAD - ((s.counts[state] || 0) / top) * (H - 2 * PAD);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      if (points.length === 1) points.push(W + "," + points[0].split(",")[1]);
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", "line-" + state);
      line.setAttribute("points", points.join(" "));
      line.setAttribute("data-state", state);
      svg.appendChild(line);
    }
  }

  function campaignsPage(main) {
    poll(main.dataset.liveCampaigns, (data) => {
      for (const campaign of data.campaigns) {
        const row = main.querySelector('tr[data-campaign="' + CSS.escape(campaign.name) + '"]');
        if (row) updateSummary(row, campaign);
      }
    });
  }

  function campaignPage(main) {
    const svg = document.getElementById("chart");
    const initial = document.getElementById("chart-history");
    const history = initial ? JSON.parse(initial.textContent || "[]") : [];
    if (svg) drawChart(svg, history);
    const url = main.dataset.liveCampaign;
    // Ask only for the samples since the last one held (it may have been updated).
    poll(() => (history.length ? url + "?since=" + history[history.length - 1].t : url), (data) => {
      updateSummary(main, data);
      setState(document.getElementById("campaign-state"), data.state);
      for (const sample of data.history || []) {
        const last = history[history.length - 1];
        if (last && sample.t === last.t) history[history.length - 1] = sample;
        else if (!last || sample.t > last.t) history.push(sample);
      }
      while (history.length > MAX_SAMPLES) history.shift();
      if (svg) drawChart(svg, history);
    });
  }

  // Pages without a JSON of their own: refetch the page and swap <main> when it changed.
  async function refreshMain(main) {
    const response = await fetch(window.location.href, { cache: "no-store" });
    if (response.redirected || !response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("main");
    if (fresh && fresh.innerHTML !== main.innerHTML && !main.contains(document.activeElement)) main.innerHTML = fresh.innerHTML;
  }

  function callPage(main) {
    let version = null;
    poll(main.dataset.liveCall, (data) => {
      if (version !== null && data.version !== version) refreshMain(main);
      version = data.version;
    });
  }

  function uploadPage(form) {
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const percent = document.getElementById("upload-percent");
    form.addEventListener("submit", (event) => {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      status.hidden = false;
      bar.value = 0;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        const p = Math.round((e.loaded / e.total) * 100);
        bar.value = p; bar.textContent = p + "%";
        percent.textContent = p < 100 ? p + "% sent" : "sent; checking the lines…";
      });
      xhr.addEventListener("load", () => {
        const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const main = page.getElementById("main");
        if (main) {
          document.getElementById("main").innerHTML = main.innerHTML;
          document.title = page.title;
          const again = document.getElementById("upload-form");
          if (again) uploadPage(again);
          const heading = document.querySelector("#main h1");
          if (heading) { heading.tabIndex = -1; heading.focus(); }
        }
      });
      xhr.addEventListener("error", () => {
        button.disabled = false;
        percent.textContent = "The upload failed (connection lost); send it again.";
      });
      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (!main) return;
    if (main.dataset.liveCampaigns) campaignsPage(main);
    if (main.dataset.liveCampaign) campaignPage(main);
    if (main.dataset.liveCall) callPage(main);
    if (main.dataset.refresh) window.setInterval(() => { if (!document.hidden) refreshMain(main); }, Number(main.dataset.refresh) * 1000);
    const upload = document.getElementById("upload-form");
    if (upload) uploadPage(upload);
  });
})();
