"""The drift report as one self-contained HTML page: inline CSS and SVG, no external assets.

The page opens with the verdict, then a summary table (drifted features first, colour-coded by how
far past their threshold they are, with a small histogram overlay per row; click a header to sort),
then the findings, then one section per feature with a full reference-vs-current histogram and every
test that was run.
"""

from __future__ import annotations

import html
from pathlib import Path

from .report import DriftReport, FeatureDrift, Histogram

__all__ = ["HTML_FILENAME", "render_html", "write_html"]

HTML_FILENAME = "drift_report.html"

_REF = "#6b8fb3"
_CUR = "#f08c2e"

_CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2433;--mute:#6b7280;--line:#e5e7eb;--red:#d64545;--amber:#d08a1c;
--green:#2f9e61;--grey:#9aa3af;--ref:REF;--cur:CUR}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:34px 0 12px}h3{font-size:15px;margin:0}
.meta{color:var(--mute);font-size:13px}.meta b{color:var(--ink);font-weight:600}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;color:#fff;font-weight:700;font-size:12px;
letter-spacing:.04em;vertical-align:middle;margin-left:8px}
.b-drift{background:var(--red)}.b-ok{background:var(--green)}.b-insufficient_data{background:var(--grey)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:14px;margin-top:20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .k{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:26px;font-weight:700;margin-top:2px}.card .s{color:var(--mute);font-size:12px}
.meter{height:8px;background:var(--line);border-radius:4px;position:relative;margin-top:8px}
.meter i{position:absolute;left:0;top:0;bottom:0;border-radius:4px}
.meter b{position:absolute;top:-4px;bottom:-4px;width:2px;background:var(--ink)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;
overflow:hidden}
th,td{padding:7px 10px;text-align:left;border-bottom:1px solid var(--line);white-space:nowrap}
th{background:#eef0f4;font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em;
cursor:pointer;user-select:none}th:hover{color:var(--ink)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drift td:first-child{border-left:4px solid var(--red)}tr.warn td:first-child{border-left:4px solid var(--amber)}
tr.ok td:first-child{border-left:4px solid var(--green)}tr.untested td:first-child{border-left:4px solid var(--grey)}
tr.drift{background:#fdf1f1}a{color:inherit}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff}
.p-drift{background:var(--red)}.p-ok{background:var(--green)}.p-untested{background:var(--grey)}
.sev{display:inline-block;width:90px;height:8px;background:var(--line);border-radius:4px;position:relative;
vertical-align:middle;margin-right:6px}.sev i{position:absolute;left:0;top:0;bottom:0;border-radius:4px}
.findings{list-style:none;padding:0;margin:0}.findings li{background:var(--card);border:1px solid var(--line);
border-left:4px solid var(--grey);border-radius:8px;padding:8px 12px;margin-bottom:8px}
.findings li.drift{border-left-color:var(--red)}.findings li.warning{border-left-color:var(--amber)}
.findings code,.feature code{background:#eef0f4;padding:0 4px;border-radius:4px}
.features{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:14px}
.feature{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--green);border-radius:10px;
padding:14px 16px}.feature.drift{border-top-color:var(--red)}.feature.untested{border-top-color:var(--grey)}
.feature .hd{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:6px}
.feature table{border:0;margin-top:8px}.feature td,.feature th{padding:4px 8px;font-size:12px}
.legend{font-size:12px;color:var(--mute)}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;
margin:0 4px 0 10px;vertical-align:-1px}
svg text{font:10px -apple-system,Segoe UI,Roboto,Arial,sans-serif;fill:#6b7280}
""".replace("REF", _REF).replace("CUR", _CUR)

_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){
var t=th.closest('table'),b=t.tBodies[0],r=Array.from(b.rows),d=th.dataset.dir==='asc'?-1:1;
th.dataset.dir=d>0?'asc':'desc';
r.sort(function(x,y){var a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;if(a===undefined){a=x.cells[i].textContent;
c=y.cells[i].textContent}var p=parseFloat(a),q=parseFloat(c);if(!isNaN(p)&&!isNaN(q))return d*(p-q);
return d*a.localeCompare(c)});r.forEach(function(x){b.appendChild(x)})})});
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def _severity_colour(severity: float | None, drifted: bool) -> str:
    if severity is None:
        return "var(--red)" if drifted else "var(--grey)"
    if drifted or severity > 1:
        return "var(--red)"
    return "var(--amber)" if severity > 0.7 else "var(--green)"


def _state(feature: FeatureDrift) -> str:
    if feature.drifted:
        return "drift"
    return "ok" if feature.status == "tested" else "untested"


def _histogram_svg(hist: Histogram, width: int, height: int, labels: bool) -> str:
    n = len(hist.labels)
    pad_l, pad_b = (34, 54) if labels else (2, 2)
    plot_w, plot_h = width - pad_l - 4, height - pad_b - 6
    top = max([*hist.reference, *hist.current, 1e-9])
    slot = plot_w / max(n, 1)
    bar = slot * 0.4
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    if labels:
        for frac in (0.0, 0.5, 1.0):
            y = 6 + plot_h * (1 - frac)
            parts.append(f'<line x1="{pad_l}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
            parts.append(f'<text x="{pad_l - 4}" y="{y + 3:.1f}" text-anchor="end">{top * frac:.0%}</text>')
    for i in range(n):
        x0 = pad_l + i * slot + slot * 0.1
        for j, (value, colour) in enumerate(((hist.reference[i], _REF), (hist.current[i], _CUR))):
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{6 + plot_h - h:.1f}" width="{bar:.1f}" height="{max(h, 0):.1f}" '
                f'fill="{colour}" rx="1"><title>{_e(hist.labels[i])}: '
                f"{'reference' if j == 0 else 'current'} {value:.1%}</title></rect>"
            )
        if labels:
            cx = pad_l + (i + 0.5) * slot
            text = hist.labels[i] if len(hist.labels[i]) <= 18 else hist.labels[i][:17] + "…"
            parts.append(
                f'<text x="{cx:.1f}" y="{height - pad_b + 14}" text-anchor="end" '
                f'transform="rotate(-35 {cx:.1f} {height - pad_b + 14})">{_e(text)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _summary_row(feature: FeatureDrift) -> str:
    state = _state(feature)
    verdict = {"drift": "drift", "ok": "ok", "untested": feature.status.replace("_", " ")}[state]
    sev = feature.severity
    width = 100 if sev is None and feature.drifted else min((sev or 0) / 2, 1) * 100
    colour = _severity_colour(sev, feature.drifted)
    rank = (2 if feature.drifted else 0) + min(sev or (1.5 if feature.drifted else 0), 10)
    null_cur = "-" if feature.current_null_rate is None else f"{feature.current_null_rate:.1%}"
    spark = _histogram_svg(feature.histogram, 110, 26, False) if feature.histogram else ""
    cls = "drift" if feature.drifted else ("untested" if state == "untested" else "ok")
    return (
        f'<tr class="{cls}"><td><a href="#f-{_e(feature.name)}"><b>{_e(feature.name)}</b></a></td>'
        f"<td>{_e(feature.kind)}</td>"
        f'<td data-v="{rank:.4f}"><span class="pill p-{state}">{_e(verdict)}</span></td>'
        f"<td>{_e(feature.test or '-')}</td>"
        f'<td class="num" data-v="{feature.statistic if feature.statistic is not None else -1}">'
        f"{_fmt(feature.statistic)}</td>"
        f'<td class="num" data-v="{feature.p_value if feature.p_value is not None else 2}">{_fmt(feature.p_value)}</td>'
        f'<td class="num">{_fmt(feature.threshold)}</td>'
        f'<td data-v="{rank:.4f}"><span class="sev"><i style="width:{width:.0f}%;background:{colour}"></i></span>'
        f"{_fmt(sev, 3)}</td>"
        f'<td class="num" data-v="{feature.reference_null_rate}">{feature.reference_null_rate:.1%} → {null_cur}</td>'
        f"<td>{spark}</td></tr>"
    )


def _feature_card(feature: FeatureDrift) -> str:
    state = _state(feature)
    head = (
        f'<div class="hd"><h3 id="f-{_e(feature.name)}">{_e(feature.name)} '
        f'<span class="pill p-{state}">{_e("drift" if feature.drifted else feature.status.replace("_", " "))}</span>'
        f'</h3><span class="meta">{_e(feature.kind)} · {feature.reference_count:,} ref · '
        f"{feature.current_count:,} current</span></div>"
    )
    body = []
    if feature.message:
        body.append(f"<p>{_e(feature.message)}</p>")
    if feature.histogram:
        body.append(
            f'<div class="legend"><i style="background:{_REF}"></i>reference'
            f'<i style="background:{_CUR}"></i>current</div>'
        )
        body.append(_histogram_svg(feature.histogram, 520, 200, True))
    if feature.reference_mean is not None or feature.current_mean is not None:
        body.append(
            f'<div class="meta">mean {_fmt(feature.reference_mean)} → <b>{_fmt(feature.current_mean)}</b> · '
            f"missing {feature.reference_null_rate:.1%} → "
            f"<b>{'-' if feature.current_null_rate is None else f'{feature.current_null_rate:.1%}'}</b></div>"
        )
    if feature.tests:
        rows = "".join(
            f"<tr><td>{'<b>' + _e(t.test) + '</b> (decides)' if t.test == feature.test else _e(t.test)}</td>"
            f'<td class="num">{_fmt(t.statistic)}</td><td class="num">{_fmt(t.p_value)}</td>'
            f'<td class="num">{_fmt(t.threshold)}</td>'
            f'<td><span class="pill p-{_verdict_word(t.drifted)}">{_verdict_word(t.drifted)}</span></td></tr>'
            for t in feature.tests
        )
        body.append(
            "<table><thead><tr><th>test</th><th>statistic</th><th>p-value</th><th>threshold</th><th></th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    return f'<section class="feature {state}">{head}{"".join(body)}</section>'


def _verdict_word(drifted: bool) -> str:
    return "drift" if drifted else "ok"


def _card(key: str, value: str, sub: str, meter: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{key}</div><div class="v">{value}</div>{meter}'
        f'<div class="s">{sub}</div></div>'
    )


def render_html(report: DriftReport) -> str:
    """The whole page as a string."""
    status = report.status
    title = {"drift": "DATASET DRIFT", "ok": "NO DATASET DRIFT", "insufficient_data": "INSUFFICIENT DATA"}[status]
    window = report.window
    span = " → ".join(
        (
            window.since.isoformat(timespec="minutes") if window.since else "start",
            window.until.isoformat(timespec="minutes") if window.until else "now",
        )
    )
    share_pct = min(report.drift_share, 1.0) * 100
    share_colour = "var(--red)" if report.dataset_drift else "var(--green)"
    meter = (
        f'<div class="meter"><i style="width:{share_pct:.0f}%;background:{share_colour}"></i>'
        f'<b style="left:{report.drift_share_threshold * 100:.0f}%"></b></div>'
    )
    cards = [
        _card(
            "drifted features",
            f"{report.drifted_features} / {report.features_total}",
            f"share {report.drift_share:.0%} · dataset drift at {report.drift_share_threshold:.0%}",
            meter,
        ),
        _card("window rows", f"{window.rows:,}", f"{window.files or 0} files · {_e(span)}"),
    ]
    if report.prediction:
        p = report.prediction
        cards.append(
            _card(
                "prediction drift",
                "yes" if report.prediction_drift else "no",
                f"{_e(p.test or p.status)} {_fmt(p.statistic)} (threshold {_fmt(p.threshold)})",
            )
        )
    if report.performance:
        perf = report.performance
        metric = perf.metric or next(iter(perf.current), "-")
        now = perf.current.get(metric) if metric in perf.current else None
        before = perf.reference.get(metric) if perf.metric else None
        cards.append(
            _card(
                "performance" + (" drift" if perf.drifted else ""),
                f"{_e(metric)} {_fmt(now, 3)}",
                f"reference {_fmt(before, 3)} · {perf.labelled_rows:,} labelled rows",
            )
        )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>Drift · {_e(report.model)} · {_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f'<h1>Drift report · {_e(report.model or "model")}<span class="badge b-{status}">{title}</span></h1>',
        f'<div class="meta">window <b>{_e(window.source)}</b> · reference <b>{_e(report.reference)}</b> · '
        f"generated {_e(report.generated_at.isoformat(timespec='seconds'))} · "
        f"computed in {report.compute_seconds * 1000:.0f} ms</div>",
        f'<div class="cards">{"".join(cards)}</div>',
    ]
    if report.findings:
        items = "".join(
            f'<li class="{f.severity}"><b>{_e(f.kind.replace("_", " "))}</b>'
            f"{' · <code>' + _e(f.column) + '</code>' if f.column else ''} — {_e(f.message)}</li>"
            for f in report.findings
        )
        parts.append(f'<h2>Findings</h2><ul class="findings">{items}</ul>')
    features = [*report.features, *([report.prediction] if report.prediction else [])]
    if features:
        rows = "".join(_summary_row(f) for f in features)
        parts.append(
            "<h2>Features</h2><table class=sortable><thead><tr><th>feature</th><th>kind</th><th>verdict</th>"
            "<th>test</th><th>statistic</th><th>p-value</th><th>threshold</th><th>severity</th><th>missing</th>"
            f"<th>reference vs current</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        parts.append(
            '<h2>Distributions</h2><div class="legend">bars: share of values per reference-quantile bin '
            f'(numeric) or category <i style="background:{_REF}"></i>reference<i style="background:{_CUR}"></i>'
            "current</div>"
        )
        parts.append(f'<div class="features">{"".join(_feature_card(f) for f in features)}</div>')
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return "".join(parts)


def write_html(report: DriftReport, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report), encoding="utf-8")
    return target
