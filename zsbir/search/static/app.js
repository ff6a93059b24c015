// zsbir search page: draw with pointer events (mouse, pen, finger), search after each stroke.
"use strict";
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const strokes = [];  // each: {width, points: [[x, y], ...]}
let current = null;
let timer = null;
let pending = 0;
let background = null;  // an uploaded sketch, drawn under the strokes

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (background) {  // fit the uploaded image into the canvas, keeping its aspect ratio
    const r = Math.min(canvas.width / background.width, canvas.height / background.height);
    const w = background.width * r, h = background.height * r;
    ctx.drawImage(background, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  }
  ctx.strokeStyle = "#000";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.lineWidth = s.width;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (s.points.length === 1) ctx.lineTo(s.points[0][0] + 0.1, s.points[0][1]);
    ctx.stroke();
  }
}

function point(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

canvas.addEventListener("pointerdown", (ev) => {
  canvas.setPointerCapture(ev.pointerId);
  current = { width: Number(document.getElementById("width").value), points: [point(ev)] };
  strokes.push(current);
  redraw();
});
canvas.addEventListener("pointermove", (ev) => {
  if (!current) return;
  current.points.push(point(ev));
  redraw();
});
function endStroke() {
  if (!current) return;
  current = null;
  schedule();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function schedule() {  // debounce: one search once the strokes pause
  clearTimeout(timer);
  timer = setTimeout(() => (current ? schedule() : searchCanvas()), 250);
}

function status(text, error = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function search(blob, nStrokes = -1) {
  const k = document.getElementById("k").value || 12;
  const ticket = ++pending;
  status("Searching…");
  const res = await fetch(`/api/search?k=${encodeURIComponent(k)}`, { method: "POST", body: blob });
  const body = await res.json();
  if (ticket !== pending) return;  // a newer search was started meanwhile
  if (!res.ok) { status(body.detail || res.statusText, true); return; }
  show(body.results);
  canvas.dataset.searchedStrokes = nStrokes;  // which drawing the results belong to
  status(`${body.results.length} photos in ${body.ms} ms`);
}

function show(results) {
  const grid = document.getElementById("results");
  grid.replaceChildren(...results.map((r) => {
    const fig = document.createElement("figure");
    fig.className = "hit";
    fig.dataset.path = r.path;
    fig.dataset.score = r.score;
    const img = document.createElement("img");
    img.src = r.url;
    img.alt = r.path;
    const cap = document.createElement("figcaption");
    cap.innerHTML = `<span class="rank">#${r.rank}</span><span class="score">${r.score.toFixed(3)}</span>`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = r.path;
    fig.append(img, cap, name);
    return fig;
  }));
}

function searchCanvas() {
  if (!strokes.length && !background) { document.getElementById("results").replaceChildren(); status("Draw to search."); return; }
  const n = strokes.length;
  canvas.toBlob((blob) => search(blob, n).catch((e) => status(String(e), true)), "image/png");
}

document.getElementById("undo").addEventListener("click", () => { strokes.pop(); redraw(); schedule(); });
document.getElementById("clear").addEventListener("click", () => {
  strokes.length = 0;
  background = null;
  redraw();
  schedule();
});
document.getElementById("search").addEventListener("click", searchCanvas);
document.getElementById("file").addEventListener("change", (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  strokes.length = 0;
  background = null;
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => { background = img; redraw(); URL.revokeObjectURL(url); };
  img.src = url;  // shown on the canvas (strokes can be added); the file itself is searched
  search(file).catch((e) => status(String(e), true));
});
redraw();
