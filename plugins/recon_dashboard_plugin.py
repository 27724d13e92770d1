"""The recon dashboard as an Airflow 3.1+ plugin: a FastAPI app the API server mounts at ``/recon``,
and a "Reconciliation" entry in the Airflow navigation that shows it inside the UI.

Nothing heavy happens at import: the app object is built here, but specs, connections and the
warehouse are only read when a request comes in (recon.dashboard.app).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from recon.dashboard.app import URL_PREFIX, create_app


class ReconDashboardPlugin(AirflowPlugin):
    name = "recon_dashboard"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "recon dashboard"}]
    # url_route set: the UI shows the dashboard in an iframe inside its own page, at /plugin/recon,
    # with a button of its own in the navigation bar (nav_top_level). href and icon are relative (no
    # leading slash), so an [api] base_url path prefix is kept.
    external_views = [
        {
            "name": "Reconciliation",
            "href": "recon/",
            "url_route": "recon",
            "destination": "nav",
            "nav_top_level": True,
            "icon": "recon/static/icon.svg",
        }
    ]
