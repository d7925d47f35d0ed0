"""MLflow's context tags (who launched a run, from what, at which commit) for runs made
with ``MlflowClient.create_run``, which adds none by itself.

The tags come from MLflow's own context providers
(``mlflow.tracking.context.registry.resolve_tags``, what ``mlflow.start_run`` uses):
``mlflow.user``, ``mlflow.source.name`` / ``mlflow.source.type``, the git commit, branch
and repository of the launched script, and whatever context plugins are installed.
MLflow looks for git beside the script (``sys.argv[0]``); ``harness-train`` lives in a
virtual environment that git ignores, so when that finds nothing, the project folder
the run was launched from is asked instead, with MLflow's git helpers.

In a sweep the launching process resolves them once and hands them to every job (a
joblib or SLURM worker would otherwise report its own worker script as the source).
"""

from __future__ import annotations

from pathlib import Path

GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO = "mlflow.source.git.repoURL"


def context_tags(project_dir: Path | None = None) -> dict[str, str]:
    """The context tags of a run launched by this process from ``project_dir``."""
    from mlflow.tracking.context.registry import resolve_tags

    tags = {key: str(value) for key, value in resolve_tags().items() if value is not None}
    if GIT_COMMIT not in tags and project_dir is not None:
        tags.update(git_tags(Path(project_dir)))
    return tags


def git_tags(folder: Path) -> dict[str, str]:
    """Commit, branch and (credential-free) remote of the git checkout holding ``folder``."""
    from mlflow.utils.git_utils import get_git_branch, get_git_commit, get_git_repo_url

    commit = get_git_commit(str(folder))
    if commit is None:
        return {}
    found = {GIT_COMMIT: commit, GIT_BRANCH: get_git_branch(str(folder)), GIT_REPO: get_git_repo_url(str(folder))}
    return {key: value for key, value in found.items() if value}
