"""The page `vidzoo serve` answers GET / with: drop a video, see the top-k as bars and its timeline.

Self-contained (no script or style from elsewhere, so it works offline and behind a firewall). It
posts the video to the server's own POST /predict with ``timeline=1`` and, when the person gives
one, the token as ``Authorization: Bearer`` (kept in the tab's sessionStorage only). The page holds
no model information itself, so it is served without the token.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vidzoo: try the model</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 52em; padding: 0 1em; color: #222; }
  h1 { font-size: 1.4em; margin-bottom: .2em; }
  #drop { border: 2px dashed #999; border-radius: 8px; padding: 2em; text-align: center; cursor: pointer; }
  #drop.over { border-color: #2a6; background: #f0fff4; }
  #token-row { margin: .8em 0; }
  #status { margin: .8em 0; min-height: 1.4em; }
  #status.error { color: #b00; }
  .bar-row { display: flex; align-items: center; margin: .25em 0; }
  .bar-row .name { width: 12em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .bar-row .track { flex: 1; background: #eee; height: 1.2em; border-radius: 3px; margin: 0 .6em; }
  .bar-row .bar { background: #3a7bd5; height: 100%; border-radius: 3px; }
  .bar-row .pct { width: 4.5em; text-align: right; font-variant-numeric: tabular-nums; }
  #timeline { margin-top: 1.2em; }
  #strip { display: flex; height: 2.2em; border-radius: 3px; overflow: hidden; }
  .segment { height: 100%; overflow: hidden; white-space: nowrap; font-size: 12px; padding: .55em .3em 0;
             box-sizing: border-box; border-right: 1px solid #fff; }
  #axis { display: flex; justify-content: space-between; font-size: 12px; color: #555; }
  table { border-collapse: collapse; margin-top: .6em; font-size: 13px; }
  td, th { padding: .1em .8em .1em 0; text-align: left; }
</style>
</head>
<body>
<h1>vidzoo: try the model</h1>
<p>Drop a video here (or choose one): the server's model answers with its top classes and, for a
video longer than one window, its labels over time.</p>
<div id="drop">Drop a video, or click to choose one<br><input type="file" id="file" accept="video/*"></div>
<div id="token-row"><label>Token (if the server has one):
  <input type="password" id="token" size="30" autocomplete="off"></label></div>
<div id="status"></div>
<div id="bars"></div>
<div id="timeline" hidden>
  <h2 style="font-size:1.1em">Timeline</h2>
  <div id="strip"></div>
  <div id="axis"><span id="t0">0 s</span><span id="t1"></span></div>
  <table id="segments"><thead><tr><th>from</th><th>to</th><th>class</th><th>probability</th></tr></thead>
  <tbody></tbody></table>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const token = $("token");
token.value = sessionStorage.getItem("vidzoo-token") || "";
token.addEventListener("change", () => sessionStorage.setItem("vidzoo-token", token.value));
const drop = $("drop"), file = $("file");
drop.addEventListener("click", (e) => { if (e.target !== file) file.click(); });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
});
file.addEventListener("change", () => { if (file.files.length) send(file.files[0]); });

function status(text, error) { const s = $("status"); s.textContent = text; s.className = error ? "error" : ""; }
function colour(i) { return "hsl(" + Math.round((i * 137.5) % 360) + ",60%,72%)"; }
function pct(p) { return (100 * p).toFixed(1) + "%"; }

async function send(video) {
  status("Sending " + video.name + " ..."); $("bars").innerHTML = ""; $("timeline").hidden = true;
  const form = new FormData();
  form.append("video", video, video.name);
  form.append("timeline", "1");
  const headers = token.value ? {"Authorization": "Bearer " + token.value} : {};
  let answer, response;
  try {
    response = await fetch("predict", {method: "POST", body: form, headers: headers});
    answer = await response.json();
  } catch (err) { status("The server did not answer: " + err, true); return; }
  if (!response.ok) { status(response.status + ": " + (answer.detail || JSON.stringify(answer)), true); return; }
  show(answer);
}

function show(answer) {
  const t = answer.timeline;
  status(answer.file + (t ? ": " + t.windows.length + " windows of " + t.window + " s" : ""));
  for (const item of answer.top) {
    const row = document.createElement("div"); row.className = "bar-row"; row.dataset.class = item.class;
    row.innerHTML = '<span class="name"></span><span class="track"><div class="bar"></div></span><span class="pct"></span>';
    row.querySelector(".name").textContent = item.class;
    row.querySelector(".bar").style.width = pct(item.probability);
    row.querySelector(".pct").textContent = pct(item.probability);
    $("bars").appendChild(row);
  }
  if (!t || t.windows.length < 2) return;  // one window: the bars say it all
  const total = t.windows[t.windows.length - 1].end, names = [];
  $("strip").innerHTML = ""; $("segments").tBodies[0].innerHTML = "";
  for (const seg of t.segments) {
    if (!names.includes(seg.class)) names.push(seg.class);
    const div = document.createElement("div"); div.className = "segment"; div.dataset.class = seg.class;
    div.style.width = (100 * (seg.end - seg.start) / total) + "%";
    div.style.background = colour(names.indexOf(seg.class));
    div.textContent = seg.class; div.title = seg.class + " " + seg.start + "-" + seg.end + " s";
    $("strip").appendChild(div);
    const tr = $("segments").tBodies[0].insertRow();
    for (const v of [seg.start + " s", seg.end + " s", seg.class, pct(seg.probability)]) tr.insertCell().textContent = v;
  }
  $("t1").textContent = total + " s";
  $("timeline").hidden = false;
}
</script>
</body>
</html>
"""
