// The example strip (gr.HTML js_on_load): a click on a photo sends its name to Python ('pick').
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-name]');
  if (button) trigger('pick', { name: button.dataset.name });
});
