"""The web dashboard: server-rendered pages over the status API's snapshots.

Every number a page shows is one the status API's JSON answers: a page is rendered from the
same snapshot as its JSON route (`throne.observability.status_answers`), and each number is
marked with the route (``data-src``) and the path in its JSON (``data-path``) it comes from,
with its exact value (``data-value``). The overview's script (``static/live.js``) polls
``/rank`` and refills those same marks; the browser tests check every mark against the JSON.
Charts are SVG drawn here (`svg`); nothing is fetched from outside the package.
"""
