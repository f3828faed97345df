"""Project files (SQL, dagster.yaml, workspace.yaml): the copies installed with a wheel first, then the checkout's."""

from pathlib import Path

import pytest

from selflearn_assets.lib import project_files, sql

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layouts(tmp_path, monkeypatch):
    """(installed package folder, checkout root), both empty, in place of the real ones."""
    package, checkout = tmp_path / "site-packages" / "selflearn_assets", tmp_path / "checkout"
    package.mkdir(parents=True)
    checkout.mkdir()
    monkeypatch.setattr(project_files.resources, "files", lambda name: package)
    monkeypatch.setattr(project_files, "CHECKOUT_ROOT", checkout)
    return package, checkout


def test_the_installed_copy_comes_first(layouts):
    package, checkout = layouts
    for root in (package / "_project", checkout):
        (root / "dbt_like_sql" / "ingest").mkdir(parents=True)
        (root / "dbt_like_sql" / "ingest" / "x.sql").write_text(f"SELECT '{root.name}';\n")
    assert project_files.project_file("dbt_like_sql") == package / "_project" / "dbt_like_sql"
    assert project_files.find_project_file("dbt_like_sql/ingest/x.sql").read_text() == "SELECT '_project';\n"


def test_the_checkout_when_nothing_is_installed(layouts):
    _, checkout = layouts
    (checkout / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    assert project_files.project_file("dagster.yaml") == checkout / "dagster.yaml"


def test_neither_is_an_error_naming_both_places(layouts):
    package, checkout = layouts
    assert project_files.find_project_file("dbt_like_sql") is None
    with pytest.raises(FileNotFoundError) as err:
        project_files.project_file("dbt_like_sql")
    assert str(package / "_project" / "dbt_like_sql") in str(err.value)
    assert str(checkout / "dbt_like_sql") in str(err.value)
    sql.sql_root.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="reinstall selflearn"):
            sql.sql_root()
    finally:
        sql.sql_root.cache_clear()


def test_an_editable_install_reads_the_checkout():
    """This checkout has no installed copies: the SQL, instance and workspace files are its own."""
    sql.sql_root.cache_clear()
    assert sql.sql_root() == CHECKOUT / "dbt_like_sql"
    assert project_files.project_file("dagster.yaml") == CHECKOUT / "dagster.yaml"
    assert (
        sql.load_sql("ingest/clean_turns.sql")
        == (CHECKOUT / "dbt_like_sql/ingest/clean_turns.sql").read_text()
    )
