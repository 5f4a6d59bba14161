"""The preview page: both frames, plaintext, headers, check findings, and live reload."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from ..errors import display_path
from .build import BuildError, PreviewBuild

PAGE = """<!doctype html>
<html lang="en" data-scheme="{{ scheme }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ 'Error · ' if error }}Preview · {{ build.subject if build else date }}</title>
<style>
  :root { color-scheme: light; }
  body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
         background: #f3f4f6; color: #111827; }
  header { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 8px 20px;
           align-items: center; padding: 10px 20px; background: #111827; color: #f9fafb; }
  header a { color: #bfdbfe; }
  header .subject { font-weight: 600; }
  header label { display: inline-flex; gap: 6px; align-items: center; cursor: pointer; }
  header .status { margin-left: auto; color: #9ca3af; font-size: 12px; }
  main { padding: 16px 20px 40px; }
  h2 { font-size: 15px; margin: 24px 0 8px; }
  .frames { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  figure { margin: 0; }
  figcaption { font-weight: 600; margin-bottom: 6px; }
  iframe { display: block; background: #fff; border: 1px solid #d1d5db; border-radius: 6px; }
  #desktop { width: 700px; height: 1000px; }
  #phone { width: 375px; height: 760px; border: 12px solid #1f2937; border-radius: 28px; }
  .banner { padding: 12px 16px; border-radius: 6px; margin: 0 0 16px; }
  /* Sticky: a reload restores the scroll position, and the error must be seen anyway. */
  .error { position: sticky; top: 52px; z-index: 1; background: #fef2f2;
           border: 1px solid #fca5a5; color: #7f1d1d; box-shadow: 0 2px 8px #0002; }
  .error h2 { margin: 0 0 6px; color: #991b1b; }
  .note { background: #eff6ff; border: 1px solid #bfdbfe; }
  .findings { background: #fffbeb; border: 1px solid #fcd34d; }
  .findings h2 { margin: 0 0 6px; }
  .findings li { margin: 2px 0; }
  .hint { color: #4b5563; }
  code, pre { font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
  table { border-collapse: collapse; background: #fff; }
  th, td { text-align: left; vertical-align: top; padding: 4px 12px; border: 1px solid #e5e7eb; }
  th { white-space: nowrap; }
  /* A pale band from column 78 on shows plaintext lines that run too long. */
  #plaintext { display: inline-block; box-sizing: content-box; min-width: 80ch; margin: 0;
               padding: 12px 16px; background: #fff linear-gradient(to right, transparent 78ch,
               #fee2e2 78ch) no-repeat content-box; border: 1px solid #d1d5db;
               border-radius: 6px; white-space: pre; }
</style>
</head>
<body data-version="{{ version }}">
<header>
  <strong>Preview</strong>
  <span>{{ date }}</span>
  {% if build %}<span class="subject" id="subject">{{ build.subject }}</span>{% endif %}
  <label><input type="checkbox" id="dark" {{ 'checked' if scheme == 'dark' }}> Dark mode</label>
  {% if build %}<span>
    <a href="/issue.html" target="_blank">issue.html</a> ·
    <a href="/issue.txt" target="_blank">issue.txt</a> ·
    <a href="/issue.eml" target="_blank">issue.eml</a></span>{% endif %}
  <span class="status" id="status">version {{ version }}</span>
</header>
<main>
{% if error %}
  <section class="banner error" id="error" role="alert">
    <h2>The issue does not build</h2>
    <p><code id="error-where">{{ error.diagnostic.where }}</code>:
      {{ error.diagnostic.message }}</p>
    {% if error.diagnostic.hint %}<p class="hint">{{ error.diagnostic.hint }}</p>{% endif %}
    {% if error.traceback %}<pre>{{ error.traceback }}</pre>{% endif %}
    <p>{{ 'Below is the last good render. ' if build }}Fix the file and save: this page
      reloads by itself.</p>
  </section>
{% endif %}
{% if build %}
  {% if build.drafted %}<p class="banner note" id="draft">There is no {{ issue_file }} yet:
    this is the draft <code>newsletter compose --date {{ date }}</code> would write.</p>{% endif %}
  {% if build.findings %}
  <section class="banner findings" id="findings">
    <h2><code>newsletter check</code> finds {{ build.findings | length }} problem(s)</h2>
    <ul>{% for f in build.findings %}
      <li><code>{{ f.where }}</code> {{ f.severity }}: {{ f.message }}
        {% if f.hint %}<span class="hint">({{ f.hint }})</span>{% endif %}</li>{% endfor %}
    </ul>
  </section>
  {% endif %}
  <div class="frames">
    <figure>
      <figcaption>Desktop (600 px email)</figcaption>
      <iframe id="desktop" name="desktop" class="email" title="The email at desktop width"
              src="/email.html?scheme={{ scheme }}&amp;v={{ version }}"></iframe>
    </figure>
    <figure>
      <figcaption>Phone (375 px)</figcaption>
      <iframe id="phone" name="phone" class="email" title="The email on a 375 px phone"
              src="/email.html?scheme={{ scheme }}&amp;v={{ version }}"></iframe>
    </figure>
  </div>
  <h2>Headers</h2>
  <table id="headers">
    {% for name, value in build.headers %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>
    {% endfor %}{% for part in build.parts %}<tr><th>Part</th><td>{{ part }}</td></tr>
    {% endfor %}
  </table>
  <h2>Plaintext</h2>
  <pre id="plaintext">{{ text }}</pre>
{% endif %}
</main>
<script>
  const version = {{ version }};
  const dark = document.getElementById("dark");
  dark.addEventListener("change", () => {
    const scheme = dark.checked ? "dark" : "light";
    for (const frame of document.querySelectorAll("iframe.email")) {
      frame.src = `/email.html?scheme=${scheme}&v=${version}`;
    }
    const url = new URL(location.href);
    url.searchParams.set("scheme", scheme);
    history.replaceState(null, "", url);  // a reload keeps the scheme
    document.documentElement.dataset.scheme = scheme;
  });
  // Long poll, like MkDocs' livereload: the server answers when the version changes.
  async function watch() {
    const status = document.getElementById("status");
    for (;;) {
      try {
        const response = await fetch(`/livereload?since=${version}`, {cache: "no-store"});
        const body = await response.json();
        if (body.version !== version) { location.reload(); return; }
      } catch (err) {
        status.textContent = "server stopped? retrying…";
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
  watch();
</script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(PAGE)


def render_page(version: int, date: str, build: PreviewBuild | None, error: BuildError | None,
                scheme: str) -> str:
    """The whole preview page for the current state."""
    return _template().render(
        version=version, date=date, build=build, error=error, scheme=scheme,
        issue_file=display_path(build.issue_path) if build else "",
        text=build.files["issue.txt"].decode() if build else "")
