// The click layer of the SAM3 web UI: the body of the stage component's js_on_load (Gradio gr.HTML), which
// provides `element` (the stage), `trigger(event, data)` (runs the Python listener of that event) and more.
//
// The page shows ONE picture. Clicks and drags on it become prompts, kept here in IMAGE pixels (origin top-left,
// boxes [x1, y1, x2, y2]); markers, boxes and labels are drawn on a canvas in DISPLAY pixels, so they keep their
// size whatever the picture's resolution. Every change sends the whole prompt list ('segment'); while a request
// runs, further clicks are queued (drawn at once) and sent together when it answers: none is dropped. Python
// answers through the hidden "view" component, whose change calls window.sam3ui.show(view).

const ui = {
  picture: null, // {token, src, width, height, name}: width/height of the full-size image
  prompts: [], // {kind: 'point', x, y, label} or {kind: 'box', box: [x1, y1, x2, y2], label}
  corner: null, // the first corner of a two-click box, image pixels
  mode: { kind: 'point', label: 1 },
  busy: false,
  pending: false,
  seq: 0,
  sentAt: 0,
  drag: null, // {start: [x, y] display, now: [x, y] display, label, moved}
  objects: [],
  hidden: new Set(),
  source: null, // 'clicks' or 'text': what produced the objects shown
};
const $ = (selector) => element.querySelector(selector);
const root = $('.sam3-ui');
const wrap = $('.sam3-frame-wrap');
const frame = $('.sam3-frame');
const photo = $('.sam3-photo');
const layers = $('.sam3-layers');
const canvas = $('.sam3-marks');
const legend = $('.sam3-legend');

function describePrompts(prompts) {
  const points = prompts.filter((p) => p.kind === 'point').length;
  const boxes = prompts.filter((p) => p.kind === 'box').length;
  return `${points} point${points === 1 ? '' : 's'}, ${boxes} box${boxes === 1 ? '' : 'es'}`;
}

function publish() {
  // what a test (or a curious user's console) can read without parsing the canvas
  root.dataset.prompts = JSON.stringify(ui.prompts);
  root.dataset.corner = ui.corner ? JSON.stringify(ui.corner) : '';
  root.dataset.busy = ui.busy ? '1' : '0';
  root.dataset.seq = String(ui.seq);
  root.dataset.shown = JSON.stringify(shownIndices());
}

// ---- coordinates --------------------------------------------------------------------------------------------

function scale() {
  // image pixels per display pixel
  return ui.picture.width / photo.getBoundingClientRect().width;
}

function toImage(clientX, clientY) {
  const rect = photo.getBoundingClientRect();
  const s = ui.picture.width / rect.width;
  const x = Math.min(Math.max((clientX - rect.left) * s, 0), ui.picture.width - 0.01);
  const y = Math.min(Math.max((clientY - rect.top) * (ui.picture.height / rect.height), 0), ui.picture.height - 0.01);
  return [Math.round(x * 100) / 100, Math.round(y * 100) / 100];
}


// ---- drawing (display pixels) -------------------------------------------------------------------------------

const GREEN = '#16a34a';
const RED = '#dc2626';

function fit() {
  // the picture as large as the space left of the legend and below the toolbar allows, down to the window's
  // bottom edge: the whole picture and its result are visible without scrolling
  if (!ui.picture) return;
  const k = fitScale(wrap, ui.picture.width, ui.picture.height, 240);
  photo.style.width = `${Math.floor(ui.picture.width * k)}px`;
  photo.style.height = `${Math.floor(ui.picture.height * k)}px`;
}

function draw() {
  if (!ui.picture) return;
  const rect = photo.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * dpr));
  canvas.height = Math.max(1, Math.round(rect.height * dpr));
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, rect.width, rect.height);
  const k = 1 / scale(); // display pixels per image pixel
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  for (const object of ui.objects) {
    if (ui.hidden.has(object.index)) continue;
    const [x1, y1, x2, y2] = object.box.map((v) => v * k);
    ctx.lineWidth = 2;
    ctx.strokeStyle = object.colour;
    ctx.setLineDash([]);
    ctx.strokeRect(x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1));
    const text = `${object.label} ${object.score.toFixed(2)}`;
    const width = ctx.measureText(text).width + 8;
    const top = y1 >= 18 ? y1 - 18 : y1;
    const left = Math.min(Math.max(0, x1), Math.max(0, rect.width - width));
    ctx.fillStyle = object.colour;
    ctx.fillRect(left, top, width, 18);
    ctx.fillStyle = object.dark ? '#fff' : '#111';
    ctx.fillText(text, left + 4, top + 3);
  }
  for (const prompt of ui.prompts) {
    const colour = prompt.label ? GREEN : RED;
    if (prompt.kind === 'box') {
      const [x1, y1, x2, y2] = prompt.box.map((v) => v * k);
      ctx.lineWidth = 3;
      ctx.setLineDash([8, 4]);
      ctx.strokeStyle = '#fff';
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.strokeStyle = colour;
      ctx.setLineDash([8, 4]);
      ctx.lineDashOffset = 4;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.lineDashOffset = 0;
      ctx.setLineDash([]);
    } else {
      point(ctx, prompt.x * k, prompt.y * k, colour, prompt.label ? '+' : '\u2212');
    }
  }
  if (ui.corner) corner(ctx, ui.corner[0] * k, ui.corner[1] * k, ui.mode.label ? GREEN : RED);
  if (ui.drag && ui.drag.moved) {
    const [x1, y1, x2, y2] = boxOf(ui.drag.start, ui.drag.now);
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = ui.drag.label ? GREEN : RED;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
  }
}

function point(ctx, x, y, colour, sign) {
  ctx.beginPath();
  ctx.arc(x, y, 9, 0, 2 * Math.PI);
  ctx.fillStyle = colour;
  ctx.fill();
  ctx.lineWidth = 2.5;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.font = '700 14px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(sign, x, y + 1);
  ctx.textAlign = 'start';
  ctx.textBaseline = 'top';
  ctx.font = '600 12px system-ui, sans-serif';
}

function corner(ctx, x, y, colour) {
  ctx.lineWidth = 4;
  ctx.strokeStyle = '#fff';
  ctx.beginPath();
  ctx.moveTo(x, y + 16);
  ctx.lineTo(x, y);
  ctx.lineTo(x + 16, y);
  ctx.moveTo(x - 10, y);
  ctx.lineTo(x - 4, y);
  ctx.moveTo(x, y - 10);
  ctx.lineTo(x, y - 4);
  ctx.stroke();
  ctx.lineWidth = 2;
  ctx.strokeStyle = colour;
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(x, y, 4, 0, 2 * Math.PI);
  ctx.fillStyle = colour;
  ctx.fill();
}

// ---- result -------------------------------------------------------------------------------------------------

function shownIndices() {
  return ui.objects.map((o) => o.index).filter((i) => !ui.hidden.has(i));
}

function showObjects(objects) {
  ui.objects = objects || [];
  ui.hidden = new Set();
  layers.replaceChildren(
    ...ui.objects.map((object) => {
      const img = document.createElement('img');
      img.src = object.layer;
      img.alt = '';
      img.dataset.index = String(object.index);
      return img;
    }),
  );
  legend.replaceChildren(
    ...ui.objects.map((object) =>
      legendRow(object, {
        key: { name: 'index', value: object.index },
        title: 'Show or hide this object',
        onToggle: (shown) => {
          if (shown) ui.hidden.delete(object.index);
          else ui.hidden.add(object.index);
          layers.querySelector(`img[data-index="${object.index}"]`).hidden = !shown;
          draw();
          publish();
        },
      }),
    ),
  );
}

function send() {
  if (!ui.picture) return;
  if (!ui.prompts.length) {
    showObjects([]);
    message(ui.corner ? 'Click the opposite corner of the box.' : 'Click on the object to segment.', 'info');
    draw();
    publish();
    return;
  }
  if (ui.busy) {
    ui.pending = true; // sent, with everything added meanwhile, once the request in flight answers
    status(`Segmenting\u2026 (${describePrompts(ui.prompts)} queued)`);
    return;
  }
  ui.busy = true;
  ui.pending = false;
  ui.seq += 1;
  ui.sentAt = performance.now();
  status('Segmenting\u2026');
  publish();
  const points = ui.prompts.filter((p) => p.kind === 'point');
  const boxes = ui.prompts.filter((p) => p.kind === 'box');
  trigger('segment', {
    seq: ui.seq,
    token: ui.picture.token,
    points: points.map((p) => [p.x, p.y]),
    point_labels: points.map((p) => p.label),
    boxes: boxes.map((p) => p.box),
    box_labels: boxes.map((p) => p.label),
  });
  const seq = ui.seq;
  setTimeout(() => {
    // an answer that never came (the server restarted, the connection dropped): accept new clicks again
    if (ui.busy && ui.seq === seq) {
      ui.busy = false;
      message('No answer from the server: click again to retry.', 'error');
      publish();
    }
  }, 120000);
}

function add(prompt) {
  ui.prompts.push(prompt);
  draw();
  publish();
  send();
}

function show(view) {
  if (!view || typeof view !== 'object') return;
  if (view.kind === 'picture') {
    ui.picture = { token: view.token, src: view.src, width: view.width, height: view.height, name: view.name };
    ui.prompts = [];
    ui.corner = null;
    ui.source = null;
    ui.busy = false;
    ui.pending = false;
    frame.hidden = false;
    $('.sam3-placeholder').hidden = true;
    photo.onload = () => draw();
    photo.src = view.src;
    fit();
    showObjects([]);
    message(view.message, view.level);
    status(`${view.width} \u00d7 ${view.height}`);
    publish();
    return;
  }
  const answersClicks = view.seq != null && view.seq === ui.seq;
  if (answersClicks) {
    ui.busy = false;
    root.dataset.latencyMs = String(Math.round(performance.now() - ui.sentAt));
  }
  const current = ui.picture && view.token === ui.picture.token;
  if (view.kind === 'result' && !current) {
    // the answer for a picture replaced since: nothing of it is shown
  } else if (view.kind === 'result') {
    if (view.source === 'text') {
      ui.prompts = [];
      ui.corner = null;
    }
    ui.source = view.source;
    showObjects(view.objects);
    message(view.message, view.level);
    const cached = view.cache_hit ? ' (cached picture)' : '';
    status(answersClicks ? `${root.dataset.latencyMs} ms${cached}` : '');
    root.dataset.resultFor = view.prompts || '';
    root.dataset.cacheHit = view.cache_hit ? '1' : '0';
  } else if (view.message) {
    message(view.message, view.level);
    if (answersClicks) {
      status('');
      if (view.level === 'error') showObjects([]); // the objects shown no longer match the prompts
    }
  }
  draw();
  publish();
  if (answersClicks && ui.pending) setTimeout(send, 0); // after gradio has finished with this answer
}

// ---- input --------------------------------------------------------------------------------------------------

function negative(event) {
  return event.shiftKey || event.button === 2;
}

canvas.addEventListener('contextmenu', (event) => event.preventDefault());
canvas.addEventListener('pointerdown', (event) => {
  if (!ui.picture || (event.button !== 0 && event.button !== 2)) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  const rect = photo.getBoundingClientRect();
  const label = negative(event) ? 0 : ui.mode.label;
  ui.drag = { start: [event.clientX - rect.left, event.clientY - rect.top], label, moved: false, client: [event.clientX, event.clientY] };
  ui.drag.now = ui.drag.start;
});
canvas.addEventListener('pointermove', (event) => {
  if (!ui.drag) return;
  const rect = photo.getBoundingClientRect();
  ui.drag.now = [event.clientX - rect.left, event.clientY - rect.top];
  const [dx, dy] = [ui.drag.now[0] - ui.drag.start[0], ui.drag.now[1] - ui.drag.start[1]];
  if (Math.hypot(dx, dy) > DRAG_PX) ui.drag.moved = true;
  if (ui.drag.moved) draw();
});
canvas.addEventListener('pointerup', (event) => {
  const drag = ui.drag;
  ui.drag = null;
  if (!drag || !ui.picture) return;
  const at = toImage(event.clientX, event.clientY);
  if (drag.moved) {
    const box = boxOf(toImage(drag.client[0], drag.client[1]), at);
    ui.corner = null;
    if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) add({ kind: 'box', box, label: drag.label });
    else draw();
    return;
  }
  if (ui.mode.kind === 'point') {
    add({ kind: 'point', x: at[0], y: at[1], label: drag.label });
  } else if (!ui.corner) {
    ui.corner = at; // drawn at once; the second click closes the box
    draw();
    publish();
    message('Click the opposite corner of the box (or drag).', 'info');
  } else {
    const box = boxOf(ui.corner, at);
    ui.corner = null;
    if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) add({ kind: 'box', box, label: ui.mode.label });
    else draw();
  }
});
canvas.addEventListener('pointercancel', () => {
  ui.drag = null;
  draw();
});

for (const button of element.querySelectorAll('.sam3-mode')) {
  button.addEventListener('click', () => {
    ui.mode = { kind: button.dataset.kind, label: Number(button.dataset.label) };
    ui.corner = null;
    for (const other of element.querySelectorAll('.sam3-mode')) other.classList.toggle('sam3-active', other === button);
    draw();
    publish();
  });
}
$('.sam3-undo').addEventListener('click', () => {
  if (ui.corner) ui.corner = null;
  else ui.prompts.pop();
  draw();
  send();
});
$('.sam3-clear').addEventListener('click', () => {
  ui.prompts = [];
  ui.corner = null;
  showObjects([]);
  draw();
  message(ui.picture ? 'Click on the object to segment.' : '', 'info');
  publish();
});
$('.sam3-download').addEventListener('click', () => {
  trigger('download', { shown: shownIndices() });
});
new ResizeObserver(() => draw()).observe(photo);
new ResizeObserver(() => fit()).observe(wrap);
window.addEventListener('resize', () => fit());

window.sam3ui = {
  show,
  rerun() {
    // the threshold or an option changed: run the same prompts again
    if (ui.source === 'text') document.querySelector('#run-text')?.click();
    else if (ui.prompts.length) send();
  },
  state: () => ui,
};
publish();
