// Shared by the image stage and the video player (prepended to each one's js_on_load, so each has its own copy;
// `$` is each one's own element query, defined in its file).

// The message line under the toolbar: level 'info', 'warn' or 'error'.
function message(text, level) {
  const box = $('.sam3-message');
  box.textContent = text || '';
  box.className = 'sam3-message sam3-' + (level || 'info');
}

// The status text at the toolbar's right (timings, what is running).
function status(text) {
  $('.sam3-status').textContent = text || '';
}

// One legend row: a checkbox that shows or hides the object, its colour swatch, label, `id` text (optional) and
// score. `key` names the row's data attribute ({name, value}); onToggle(shown) runs after the row's look changed.
function legendRow(object, { key, title, id, onToggle }) {
  const span = (className, text) => {
    const part = document.createElement('span');
    part.className = className;
    if (text !== undefined) part.textContent = text;
    return part;
  };
  const row = document.createElement('label');
  row.dataset[key.name] = String(key.value);
  row.title = title;
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = true;
  box.addEventListener('change', () => {
    row.classList.toggle('sam3-off', !box.checked);
    onToggle(box.checked);
  });
  const swatch = span('sam3-swatch');
  swatch.style.background = object.colour;
  const parts = [box, swatch, span('sam3-label', object.label)];
  if (id !== undefined) parts.push(span('sam3-id', id));
  parts.push(span('sam3-score', object.score.toFixed(2)));
  row.append(...parts);
  return row;
}

// The scale that shows a width x height picture as large as `wrap` is wide (at least 200 px) and as the window
// is tall below wrap's top (at least minHeight px).
function fitScale(wrap, width, height, minHeight) {
  const top = wrap.getBoundingClientRect().top + window.scrollY;
  const room = Math.max(minHeight, window.innerHeight - top - 12);
  return Math.min(Math.max(200, wrap.clientWidth) / width, room / height);
}

const DRAG_PX = 6; // a press that moves further than this (display pixels) is a drag: a box

function boxOf(a, b) {
  // the box [x1, y1, x2, y2] with corners a and b ([x, y] each)
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}
