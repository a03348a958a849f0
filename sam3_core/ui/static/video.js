// The Video tab's player: the body of the player component's js_on_load (Gradio gr.HTML; `element` is the player).
//
// Python answers through the hidden "video-view" component, whose change calls window.sam3video.show(view): a
// clip just uploaded (its first frame), a tracking result, or a message. A result holds the tracked frames as
// display-size JPEGs and, per object and frame, the mask as COCO compressed RLE (column-major run lengths) at that
// size plus its box: the player decodes the masks of the frame shown and tints them over it, each object in its
// colour on every frame, with its label and id; the legend hides or shows an object on every frame.
//
// Editing (a video session, sam3_core/ui/video_editing.py): a "session" view shows every sampled frame with no
// object; "update" views carry some frames' objects (each frame named replaces what the player had there; "clear"
// first forgets everything, as a text prompt starts the session over); "removed" takes an object off every frame.
// A click on the frame, or a box dragged on it, sends trigger('prompt') with every click and the box the player has
// for the selected object on that frame (a session replaces an object's clicks and box on a frame), or for a new
// object when none is selected; the legend's pencil selects an object, its cross removes it (trigger('remove')),
// "New object" clears the selection.

const ui = {
  token: null,
  width: 0, // display size of the frames (the RLE masks' size)
  height: 0,
  frames: [], // {index, time, src, image}
  objects: [], // {object_id, label, score, colour, dark, tracks: [null | {box, score, counts}] per frame}
  hidden: new Set(), // object ids
  position: 0,
  playing: false,
  timer: null,
  busySince: 0,
  ticker: null,
  session: false, // the frames are a video session's: clicks edit it
  source: [0, 0], // the frames' size in the source video (clicks are sent in its pixels)
  selected: null, // the object id the next clicks go to (null: a new object)
  clicks: new Map(), // `${object}:${position}` -> [{x, y, label}] in source pixels ('new' before an id is known)
  boxes: new Map(), // `${object}:${position}` -> [x1, y1, x2, y2] in source pixels: one box per object and frame
  drag: null, // a press on the frame: {start, now: [clientX, clientY], moved, label}
  undo: null, // what the prompt being answered changed: {key, clicks, box}, put back if it is refused
  pending: false, // a click or box is being answered
};
const TINT = 0.5;
const $ = (selector) => element.querySelector(selector);
const root = $('.sam3-video');
const wrap = $('.sam3-vwrap');
const screen = $('.sam3-screen');
const seek = $('.sam3-seek');
const playButton = $('.sam3-play');
const legend = $('.sam3-vlegend');
const layer = document.createElement('canvas'); // the masks of the frame shown, at display size

function publish() {
  // what a test (or a curious user's console) can read without parsing the canvas
  root.dataset.frame = String(ui.position);
  root.dataset.frames = String(ui.frames.length);
  root.dataset.playing = ui.playing ? '1' : '0';
  root.dataset.busy = ui.busySince ? '1' : '0';
  root.dataset.objects = JSON.stringify(ui.objects.map((o) => ({ object_id: o.object_id, label: o.label })));
  root.dataset.shown = JSON.stringify(ui.objects.map((o) => o.object_id).filter((id) => !ui.hidden.has(id)));
  root.dataset.drawn = JSON.stringify(visibleHere().map((o) => o.object_id));
  root.dataset.session = ui.session ? '1' : '0';
  root.dataset.selected = ui.selected == null ? '' : String(ui.selected);
  root.dataset.pending = ui.pending ? '1' : '0';
  root.dataset.onFrames = JSON.stringify(
    Object.fromEntries(ui.objects.map((o) => [o.object_id, o.tracks.filter(Boolean).length])),
  );
}

// ---- COCO RLE -----------------------------------------------------------------------------------------------

function decodeCounts(text) {
  // the inverse of COCO's rleToString (sam3_core.masks.rle.compress_counts)
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    while (more) {
      const group = text.charCodeAt(p) - 48;
      value |= (group & 0x1f) << shift;
      more = (group & 0x20) !== 0;
      p += 1;
      shift += 5;
      if (!more && group & 0x10) value |= -1 << shift;
    }
    if (counts.length > 2) value += counts[counts.length - 2];
    counts.push(value);
  }
  return counts;
}

function maskOf(counts, width, height) {
  // a row-major 0/1 mask from column-major run lengths (starting with a run of 0s)
  const mask = new Uint8Array(width * height);
  let p = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const end = p + counts[i];
    if (i % 2 === 1) {
      for (let q = p; q < end; q += 1) mask[(q % height) * width + Math.floor(q / height)] = 1;
    }
    p = end;
  }
  return mask;
}

function rgbOf(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

// ---- drawing ------------------------------------------------------------------------------------------------

function visibleHere() {
  return ui.objects.filter((o) => !ui.hidden.has(o.object_id) && o.tracks[ui.position]);
}

function fit() {
  // the frames as large as the space left of the legend and down to the window's bottom edge allow
  if (!ui.width) return;
  const k = fitScale(wrap, ui.width, ui.height, 200);
  screen.style.width = `${Math.floor(ui.width * k)}px`;
  screen.style.height = `${Math.floor(ui.height * k)}px`;
  draw();
}

function draw() {
  if (!ui.width || !ui.frames.length) return;
  const frame = ui.frames[ui.position];
  const rect = screen.getBoundingClientRect();
  if (!rect.width) return; // the tab is not shown
  const dpr = window.devicePixelRatio || 1;
  screen.width = Math.max(1, Math.round(rect.width * dpr));
  screen.height = Math.max(1, Math.round(rect.height * dpr));
  const ctx = screen.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, rect.width, rect.height);
  if (frame.image.complete && frame.image.naturalWidth) ctx.drawImage(frame.image, 0, 0, rect.width, rect.height);
  const shown = visibleHere();
  if (shown.length) {
    layer.width = ui.width;
    layer.height = ui.height;
    const lctx = layer.getContext('2d');
    const pixels = lctx.createImageData(ui.width, ui.height);
    const data = pixels.data;
    const w = ui.width;
    const h = ui.height;
    for (const object of shown) {
      const track = object.tracks[ui.position];
      if (!track.mask) track.mask = maskOf(decodeCounts(track.counts), w, h); // kept: replays cost nothing
      const mask = track.mask;
      const [r, g, b] = rgbOf(object.colour);
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) {
          const i = y * w + x;
          if (!mask[i]) continue;
          const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
          data[4 * i] = r;
          data[4 * i + 1] = g;
          data[4 * i + 2] = b;
          data[4 * i + 3] = edge ? 255 : Math.round(255 * TINT);
        }
      }
    }
    lctx.putImageData(pixels, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(layer, 0, 0, rect.width, rect.height);
    ctx.imageSmoothingEnabled = true;
  }
  const k = rect.width / ui.width;
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  for (const object of shown) {
    const track = object.tracks[ui.position];
    const [x1, y1, x2, y2] = track.box.map((v) => v * k);
    ctx.lineWidth = 2;
    ctx.strokeStyle = object.colour;
    ctx.strokeRect(x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1));
    const text = `${object.label} #${object.object_id}`;
    const width = ctx.measureText(text).width + 8;
    const top = y1 >= 18 ? y1 - 18 : y1;
    const left = Math.min(Math.max(0, x1), Math.max(0, rect.width - width));
    ctx.fillStyle = object.colour;
    ctx.fillRect(left, top, width, 18);
    ctx.fillStyle = object.dark ? '#fff' : '#111';
    ctx.fillText(text, left + 4, top + 3);
  }
  const key = `${ui.selected == null ? 'new' : ui.selected}:${ui.position}`;
  const boxes = []; // display pixels: the object's box on this frame (source pixels, scaled) and a drag under way
  const kept = ui.boxes.get(key);
  if (kept) {
    const [kx, ky] = [rect.width / ui.source[0], rect.height / ui.source[1]];
    boxes.push([kept[0] * kx, kept[1] * ky, kept[2] * kx, kept[3] * ky]);
  }
  if (ui.drag && ui.drag.moved) boxes.push(boxOf(toScreen(ui.drag.start, rect), toScreen(ui.drag.now, rect)));
  for (const [x1, y1, x2, y2] of boxes) {
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#22c55e';
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
  }
  const mine = ui.clicks.get(key) || [];
  for (const click of mine) {
    const x = (click.x / ui.source[0]) * rect.width;
    const y = (click.y / ui.source[1]) * rect.height;
    ctx.beginPath();
    ctx.arc(x, y, 5, 0, 2 * Math.PI);
    ctx.fillStyle = click.label ? '#22c55e' : '#ef4444';
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#fff';
    ctx.stroke();
  }
  const time = frame.time == null ? '' : ` \u00b7 ${frame.time.toFixed(2)} s`;
  $('.sam3-when').textContent = `frame ${ui.position + 1} / ${ui.frames.length}${time}`;
  for (const row of legend.querySelectorAll('label')) {
    const object = ui.objects.find((o) => String(o.object_id) === row.dataset.objectId);
    row.classList.toggle('sam3-absent', !(object && object.tracks[ui.position]));
  }
  publish();
}

// ---- playback -----------------------------------------------------------------------------------------------

function delayAfter(position) {
  // the source's own pace between the tracked frames, when it has one (5 frames a second otherwise)
  const now = ui.frames[position];
  const next = ui.frames[position + 1];
  const seconds = now && next && now.time != null && next.time != null ? next.time - now.time : 0.2;
  return Math.min(1000, Math.max(40, seconds * 1000));
}

function goTo(position) {
  ui.position = Math.min(Math.max(0, position), Math.max(0, ui.frames.length - 1));
  seek.value = String(ui.position);
  draw();
}

function tick() {
  if (!ui.playing) return;
  goTo((ui.position + 1) % ui.frames.length); // loops
  ui.timer = setTimeout(tick, delayAfter(ui.position));
}

function setPlaying(playing) {
  ui.playing = playing && ui.frames.length > 1;
  clearTimeout(ui.timer);
  playButton.innerHTML = ui.playing ? '&#10074;&#10074; Pause' : '&#9654; Play';
  if (ui.playing) ui.timer = setTimeout(tick, delayAfter(ui.position));
  publish();
}

// ---- views --------------------------------------------------------------------------------------------------

function load(frames) {
  return frames.map((frame, position) => {
    const image = new Image();
    image.onload = () => {
      if (position === ui.position) draw();
    };
    image.src = frame.src;
    return { ...frame, image };
  });
}

function showLegend() {
  legend.replaceChildren(
    ...ui.objects.map((object) => {
      const on = object.tracks.filter(Boolean).length;
      const row = legendRow(object, {
        key: { name: 'objectId', value: object.object_id },
        title: `Object ${object.object_id}, on ${on} of ${ui.frames.length} frames: show or hide it`,
        id: `#${object.object_id}`,
        onToggle: (shown) => {
          if (shown) ui.hidden.delete(object.object_id);
          else ui.hidden.add(object.object_id);
          draw();
        },
      });
      if (ui.session) row.append(...editButtons(object));
      row.classList.toggle('sam3-selected', ui.selected === object.object_id);
      return row;
    }),
  );
}

function editButtons(object) {
  const button = (className, text, title, act) => {
    const part = document.createElement('button');
    part.type = 'button';
    part.className = className;
    part.textContent = text;
    part.title = title;
    part.addEventListener('click', (event) => {
      event.preventDefault(); // a button in the row's label: not a toggle of its checkbox
      event.stopPropagation();
      act();
    });
    return part;
  };
  return [
    button('sam3-fix', '\u270e', `Fix object ${object.object_id}: the next clicks refine it`, () => select(object.object_id)),
    button('sam3-remove', '\u00d7', `Remove object ${object.object_id} from every frame`, () => {
      if (ui.pending) return;
      trigger('remove', { token: ui.token, obj_id: object.object_id });
    }),
  ];
}

function select(objectId) {
  ui.selected = objectId;
  showLegend();
  draw();
}

// ---- editing ------------------------------------------------------------------------------------------------

function emptyTracks() {
  return ui.frames.map(() => null);
}

function applyUpdates(updates) {
  for (const { position, objects } of updates) {
    for (const object of ui.objects) object.tracks[position] = null;
    for (const entry of objects) {
      let object = ui.objects.find((o) => o.object_id === entry.object_id);
      if (!object) {
        object = { ...entry, tracks: emptyTracks() };
        ui.objects.push(object);
        ui.objects.sort((a, b) => a.object_id - b.object_id);
      }
      object.label = entry.label;
      object.score = Math.max(object.score, entry.score);
      object.tracks[position] = { box: entry.box, score: entry.score, counts: entry.counts };
    }
  }
}

function toScreen(client, rect) {
  return [client[0] - rect.left, client[1] - rect.top];
}

function toSource(client) {
  // [clientX, clientY] as pixels of the frames the clicks are sent in (the source video's, in a session)
  const rect = screen.getBoundingClientRect();
  const source = ui.session ? ui.source : [ui.width, ui.height];
  const [x, y] = toScreen(client, rect);
  return [Math.round((x / rect.width) * source[0] * 10) / 10, Math.round((y / rect.height) * source[1] * 10) / 10];
}

function prompt(change) {
  // a click ({x, y, label}) or a box ([x1, y1, x2, y2], replacing the object's box there) for the selected object,
  // or a new one, on the frame shown: sent with every click and the box the player has for it there
  if (!ui.frames.length || ui.token == null) return;
  if (ui.pending || ui.busySince) {
    message('Wait for the answer before clicking again.', 'warn');
    return;
  }
  const position = ui.session ? ui.position : 0;
  const key = `${ui.selected == null ? 'new' : ui.selected}:${position}`;
  ui.undo = { key, clicks: ui.clicks.get(key), box: ui.boxes.get(key) };
  if (Array.isArray(change)) ui.boxes.set(key, change);
  else ui.clicks.set(key, [...(ui.clicks.get(key) || []), change]);
  const clicks = ui.clicks.get(key) || [];
  const box = ui.boxes.get(key);
  ui.pending = true;
  setPlaying(false);
  status('Segmenting\u2026');
  draw();
  trigger('prompt', {
    token: ui.token,
    position,
    obj_id: ui.selected,
    points: clicks.map((c) => [c.x, c.y]),
    point_labels: clicks.map((c) => c.label),
    ...(box ? { box } : {}),
  });
}

function putBack(undo) {
  // a refused prompt: the clicks and box it changed are as before
  for (const [map, value] of [[ui.clicks, undo.clicks], [ui.boxes, undo.box]]) {
    if (value === undefined) map.delete(undo.key);
    else map.set(undo.key, value);
  }
}

function idle() {
  ui.busySince = 0;
  clearInterval(ui.ticker);
  status('');
}

function show(view) {
  if (!view || typeof view !== 'object') return;
  if (view.kind === 'message') {
    idle();
    if (ui.pending) {
      // a click or box that was refused: it is not kept
      if (ui.undo) putBack(ui.undo);
      ui.pending = false;
      draw();
    }
    message(view.message, view.level);
    publish();
    return;
  }
  if (['result', 'update', 'removed'].includes(view.kind) && view.token !== ui.token) return; // an older clip's
  if (view.kind === 'update' || view.kind === 'removed') {
    edited(view);
    return;
  }
  const kept = view.kind === 'session' && ui.pending ? { position: ui.position, clicks: ui.clicks, boxes: ui.boxes } : null;
  if (view.kind !== 'session') idle(); // a session's frames come first: the prompt's answer is still to come
  setPlaying(false);
  ui.token = view.token;
  ui.width = view.width;
  ui.height = view.height;
  ui.frames = load(view.frames || []);
  ui.objects = view.objects || [];
  ui.hidden = new Set();
  ui.position = 0;
  ui.session = view.kind === 'session';
  ui.source = view.source || [view.width, view.height];
  ui.selected = null;
  ui.clicks = kept ? kept.clicks : new Map();
  ui.boxes = kept ? kept.boxes : new Map();
  ui.pending = Boolean(kept); // a click or box started this session: its answer comes next
  if (kept) ui.position = Math.min(kept.position, Math.max(0, ui.frames.length - 1));
  seek.max = String(Math.max(0, ui.frames.length - 1));
  seek.value = String(ui.position);
  seek.disabled = ui.frames.length < 2;
  playButton.disabled = ui.frames.length < 2;
  screen.hidden = !ui.frames.length;
  $('.sam3-placeholder').hidden = Boolean(ui.frames.length);
  showLegend();
  message(view.message, view.level);
  if (view.kind === 'result') {
    root.dataset.resultFor = view.prompts || '';
    root.dataset.request = JSON.stringify(view.request || {}); // the fields sent with the video
    status(`${ui.frames.length} frame${ui.frames.length === 1 ? '' : 's'}, ${view.seconds} s`);
  } else {
    root.dataset.resultFor = '';
    $('.sam3-when').textContent = '';
  }
  root.dataset.kind = view.kind;
  fit();
  publish();
  if (view.kind === 'result' && ui.frames.length > 1) setPlaying(true);
}

function edited(view) {
  // an update of some frames, an object removed, or the end of a propagation
  if (view.kind === 'removed') {
    ui.objects = ui.objects.filter((o) => o.object_id !== view.object_id);
    for (const map of [ui.clicks, ui.boxes]) {
      for (const key of [...map.keys()]) if (key.startsWith(`${view.object_id}:`)) map.delete(key);
    }
    if (ui.selected === view.object_id) ui.selected = null;
  } else {
    if (view.clear) {
      ui.objects = [];
      ui.clicks = new Map();
      ui.boxes = new Map();
      ui.selected = null;
    }
    if (view.selected != null) {
      for (const map of [ui.clicks, ui.boxes]) {
        const fresh = map.get(`new:${ui.position}`);
        if (fresh && ui.selected == null) {
          map.set(`${view.selected}:${ui.position}`, fresh);
          map.delete(`new:${ui.position}`);
        }
      }
      ui.selected = view.selected;
    }
    applyUpdates(view.updates || []);
    if (view.follow && view.updates && view.updates.length) {
      ui.position = view.updates[view.updates.length - 1].position; // propagation: the frame just tracked
      seek.value = String(ui.position);
    }
  }
  if (view.done || view.kind === 'removed' || view.selected != null || view.clear) idle();
  ui.pending = false;
  showLegend();
  message(view.message, view.level);
  draw();
  publish();
}

// A press that moves further than DRAG_PX is a box; else a click (shift-, alt- or right-click: a negative point).
screen.addEventListener('contextmenu', (event) => event.preventDefault());
screen.addEventListener('pointerdown', (event) => {
  if (event.button !== 0 && event.button !== 2) return;
  event.preventDefault();
  screen.setPointerCapture(event.pointerId);
  const label = event.button === 2 || event.shiftKey || event.altKey ? 0 : 1;
  ui.drag = { start: [event.clientX, event.clientY], now: [event.clientX, event.clientY], moved: false, label };
});
screen.addEventListener('pointermove', (event) => {
  if (!ui.drag) return;
  ui.drag.now = [event.clientX, event.clientY];
  if (Math.hypot(ui.drag.now[0] - ui.drag.start[0], ui.drag.now[1] - ui.drag.start[1]) > DRAG_PX) ui.drag.moved = true;
  if (ui.drag.moved) draw();
});
screen.addEventListener('pointerup', (event) => {
  const drag = ui.drag;
  ui.drag = null;
  if (!drag) return;
  if (!drag.moved) {
    const [x, y] = toSource([event.clientX, event.clientY]);
    prompt({ x, y, label: drag.label });
    return;
  }
  const box = boxOf(toSource(drag.start), toSource([event.clientX, event.clientY]));
  if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) prompt(box);
  else draw();
});
screen.addEventListener('pointercancel', () => {
  ui.drag = null;
  draw();
});
$('.sam3-new').addEventListener('click', () => select(null));

playButton.addEventListener('click', () => setPlaying(!ui.playing));
seek.addEventListener('input', () => {
  setPlaying(false);
  goTo(Number(seek.value));
});
new ResizeObserver(() => fit()).observe(wrap);
window.addEventListener('resize', () => fit());

window.sam3video = {
  show,
  position: () => (ui.session ? ui.position : 0),
  busy(doing) {
    // Track, Find or Propagate was pressed: say so until the answer comes (tracking takes a while on a CPU)
    setPlaying(false);
    ui.busySince = performance.now();
    const what = doing || 'tracking';
    message(doing ? `${doing[0].toUpperCase()}${doing.slice(1)}\u2026` : 'Tracking\u2026 every sampled frame goes through the model in turn.', 'info');
    clearInterval(ui.ticker);
    const update = () => status(`${what}, ${Math.round((performance.now() - ui.busySince) / 1000)} s`);
    update();
    ui.ticker = setInterval(update, 1000);
    publish();
  },
  state: () => ui,
};
publish();
