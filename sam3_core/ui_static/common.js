// Shared by the image stage and the video player (prepended to each one's js_on_load, so each has its own copy).

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
