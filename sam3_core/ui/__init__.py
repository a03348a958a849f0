"""The Gradio web UI over the handler, with its static HTML, CSS and JavaScript (``static/``)."""
