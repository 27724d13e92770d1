"""Integrity rules: declared in the spec, generated into Great Expectations suites, run by the DAG.

* ``rules``: the spec's ``rules`` section (pydantic) and the default rules every spec gets;
* ``suites``: the generator, one batch query and suite per checkpoint and source;
* ``validate``: runs a checkpoint with GX Core, masks and stores the outcome, builds Data Docs, and
  stops the run when a rule whose ``on_fail`` is ``stop`` failed;
* ``quarantine``: moves the rows ``on_fail: quarantine`` rules find out of matching, before dbt.
"""
