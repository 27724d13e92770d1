"""The recon dashboard: a FastAPI app the Airflow API server mounts at ``/recon`` (see
plugins/recon_dashboard_plugin.py and docs/dashboard.md).

- ``app``: the app factory, the HTML pages and the JSON API routes;
- ``auth``: who is asking (Airflow's auth manager), what they may read and change, CSRF;
- ``site``: the specs the dashboard shows and the warehouse it reads;
- ``queries``: every read, filtered, sorted and paginated in SQL, personal data masked;
- ``actions``: reviews, correction plans and "run now", through the same functions as the CLI;
- ``export``: streamed CSV; ``charts``: the inline SVG trend line.
"""
