"""Archives in the admin (docs/archives.md): the list per repository, browse and search,
download, restore jobs, delete and diff. Views are thin: the work is in archives.services,
and whatever needs borg or a lease runs on the worker while the page follows it."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from archives import tasks
from archives.forms import RestoreForm
from archives.models import Archive, ArchiveIndex, ArchiveListState, IndexState, RestoreJob, RestoreStatus
from archives.services import catalog, deletion, differ, download, paths, restore
from archives.services import index as archive_index
from common.admin import ObjectButton, ObjectSection, add_buttons, add_sections, confirmation_page
from common.humanize import human_size
from repositories.models import Repository
from repositories.services import leases

PAGE_SIZE = 500


@admin.register(Archive)
class ArchiveAdmin(admin.ModelAdmin):
    list_display = ["name", "repository", "start", "plan", "files", "original", "deduplicated", "checkpoint", "links"]
    list_filter = ["repository", "plan", "checkpoint"]
    list_select_related = ["repository", "plan"]
    search_fields = ["name"]
    actions = ["delete_archives", "diff_archives"]
    change_list_template = "admin/archives/archive/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Only the action, which deletes in borg first: the admin's own delete page would
        # drop the row and leave the archive in the repository.
        return obj is None and super().has_delete_permission(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # delete_archives checks names against borg first
        return actions

    @admin.display(description="files")
    def files(self, obj):
        return "—" if obj.nfiles is None else obj.nfiles

    @admin.display(description="original")
    def original(self, obj):
        return human_size(obj.original_size)

    @admin.display(description="deduplicated")
    def deduplicated(self, obj):
        return human_size(obj.deduplicated_size)

    @admin.display(description="")
    def links(self, obj):
        return format_html('<a href="{}">Browse</a>', reverse("admin:archives_archive_browse", args=[obj.pk]))

    # --- the list ------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        repository = _filtered_repository(request)
        state = None
        if repository is not None:
            state = ArchiveListState.objects.filter(repository=repository).first()
            if state is None or (state.refreshed is None and state.queued is None and not state.error):
                # Never read from borg (an imported repository): read it on the worker.
                tasks.queue_refresh(repository)
                state = ArchiveListState.objects.get(repository=repository)
        extra_context = {**(extra_context or {}), "list_repository": repository, "list_state": state}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("<int:pk>/browse/", view(self.browse_view), name="archives_archive_browse"),
            path("<int:pk>/download/", view(self.download_view), name="archives_archive_download"),
            path("<int:pk>/restore/", view(self.restore_view), name="archives_archive_restore"),
            path("<int:pk>/index/", view(self.index_view), name="archives_archive_index"),
            path("refresh/<int:repository_id>/", view(self.refresh_view), name="archives_archive_refresh"),
            path("diff/", view(self.diff_view), name="archives_archive_diff"),
            *super().get_urls(),
        ]

    def refresh_view(self, request, repository_id):
        repository = get_object_or_404(Repository, pk=repository_id)
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return confirmation_page(
                request, self.admin_site.get_model_admin(Repository), repository,
                f"Read the archive list of {repository.name} from borg?", ["It runs on the worker."],
                button="Yes, refresh it",
            )  # fmt: skip
        tasks.queue_refresh(repository)
        self.message_user(request, f"{repository.name}: reading the archive list from borg on the worker…")
        return redirect(_list_url(repository))

    # --- browse and search ---------------------------------------------------------------

    def _archive(self, request, pk, permission: str = "view") -> Archive:
        archive = Archive.objects.select_related("repository", "plan").filter(pk=pk).first()
        if archive is None:
            raise Http404(f"No archive with id {pk!r}.")
        allowed = {
            "view": self.has_view_permission(request),
            "download": request.user.has_perm("archives.download_archive"),
            "restore": request.user.has_perm("archives.restore_archive"),
        }[permission]
        if not allowed:
            raise PermissionDenied
        return archive

    def _context(self, request, archive, subpage, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "original": archive, "archive": archive, "subpage": subpage,
            "title": f"{archive.repository.name} :: {archive.name}",
            "can_download": request.user.has_perm("archives.download_archive"),
            "can_restore": request.user.has_perm("archives.restore_archive"),
            "time_zone": timezone.get_current_timezone_name(),
            **extra,
        }  # fmt: skip

    def index_view(self, request, pk):
        """POST: (re)build the index on the worker."""
        archive = self._archive(request, pk)
        if request.method == "POST":
            existing = ArchiveIndex.objects.filter(archive=archive).first()
            if existing is None or not archive_index.building_elsewhere(existing):
                tasks.queue_index(archive)
        return redirect(reverse("admin:archives_archive_browse", args=[archive.pk]) + _query(request.GET))

    def browse_view(self, request, pk):
        archive = self._archive(request, pk)
        built = archive_index.ready_index(archive)
        if built is None:
            return self._index_pending(request, archive)
        search = request.GET.get("q", "").strip()
        current = paths.normalise(request.GET.get("path", ""))
        if search:
            entries, page = archive_index.search(built, search), None
        else:
            entry = archive_index.lookup(built, current) if current else None
            if current and (entry is None or entry.type != "d"):
                raise Http404(f"{current!r} is not a directory of {archive.name}.")
            page = Paginator(archive_index.children(built, current), PAGE_SIZE).get_page(request.GET.get("page"))
            entries = page.object_list
        crumbs = [(path.rpartition("/")[2], path) for path in [*paths.ancestors(current), current] if path]
        context = self._context(
            request, archive, "Browse", entries=entries, page=page, current=current, crumbs=crumbs, search=search,
            index=built, search_limit=archive_index.SEARCH_LIMIT,
        )  # fmt: skip
        return TemplateResponse(request, "admin/archives/archive/browse.html", context)

    def _index_pending(self, request, archive):
        index = ArchiveIndex.objects.filter(archive=archive).first()
        if index is None or (index.state != IndexState.FAILED and not archive_index.building_elsewhere(index)):
            tasks.queue_index(archive)
            index = ArchiveIndex.objects.get(archive=archive)
        context = self._context(request, archive, "Browse", index=index, building=index.state != IndexState.FAILED)
        return TemplateResponse(request, "admin/archives/archive/index_pending.html", context)

    # --- download ------------------------------------------------------------------------

    def download_view(self, request, pk):
        archive = self._archive(request, pk, "download")
        holder = f"download by {request.user.get_username()}"
        try:
            stream = download.open_download(archive, request.GET.get("path", ""), holder)
        except download.UnknownPath as e:
            raise Http404(str(e)) from e
        except (leases.RepositoryBusy, download.IndexNotReady) as e:
            return _plain(str(e), status=409)
        except catalog.ArchiveError as e:
            return _plain(str(e), status=502)
        response = StreamingHttpResponse(stream, content_type="application/octet-stream")
        response["Content-Disposition"] = content_disposition_header(True, stream.filename)
        response["X-Content-Type-Options"] = "nosniff"
        if stream.content_length is not None:
            response["Content-Length"] = str(stream.content_length)
        return response

    # --- restore -------------------------------------------------------------------------

    def restore_view(self, request, pk):

        archive = self._archive(request, pk, "restore")
        built = archive_index.ready_index(archive)
        if built is None:
            return self._index_pending(request, archive)
        chosen = [paths.normalise(p) for p in request.POST.getlist("paths") or request.GET.getlist("path")]
        chosen = [p for p in chosen if p]
        form = RestoreForm(request.POST or None, initial={"target": restore.default_target(archive)})
        if request.method == "POST" and "target" in request.POST and form.is_valid():
            try:
                job = restore.request(
                    archive, chosen, request.user, admin_group=restore.may_choose_any_target(request.user),
                    **form.restore_options(),
                )  # fmt: skip
            except restore.RestoreRefused as e:
                form.add_error(None, str(e))
            else:
                restore.queue(job)
                self.message_user(request, f"Restore {job.pk} queued for a worker.", messages.SUCCESS)
                return redirect(job.get_absolute_url())
        context = self._context(request, archive, "Restore", form=form, chosen=chosen)
        return TemplateResponse(request, "admin/archives/archive/restore.html", context)

    # --- delete and diff -----------------------------------------------------------------

    @admin.action(description="Delete selected archives…", permissions=["delete"])
    def delete_archives(self, request, queryset):

        archives = list(queryset.select_related("repository").order_by("repository", "start"))
        repositories = {archive.repository_id for archive in archives}
        if len(repositories) != 1:
            self.message_user(request, "Choose archives of one repository at a time.", messages.ERROR)
            return None
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request), "title": "Delete these archives?", "archives": archives,
                "opts": self.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }  # fmt: skip
            return TemplateResponse(request, "admin/archives/archive/delete_confirm.html", context)
        repository = archives[0].repository
        task_id = deletion.queue(repository, [archive.name for archive in archives], request.user)
        self.message_user(request, f"{repository.name}: deleting {len(archives)} archive(s) on the worker…")
        return redirect(reverse("admin:archives_archive_diff") + f"?task={task_id}")

    @admin.action(description="Compare two archives (diff)", permissions=["view"])
    def diff_archives(self, request, queryset):
        archives = list(queryset.order_by("start", "id")[:3])
        if len(archives) != 2 or archives[0].repository_id != archives[1].repository_id:
            self.message_user(request, "Choose exactly two archives of one repository.", messages.ERROR)
            return None
        return redirect(reverse("admin:archives_archive_diff") + f"?old={archives[0].pk}&new={archives[1].pk}")

    def diff_view(self, request):
        """Follows a queued diff (or delete) on the worker and shows its result."""

        if not self.has_view_permission(request):
            raise PermissionDenied
        task_id = request.GET.get("task")
        if not task_id:
            ids = [request.GET.get("old", ""), request.GET.get("new", "")]
            if not all(value.isdigit() and len(value) < 19 for value in ids):  # 19 digits may overflow a bigint
                raise Http404("old and new name archives by their ids")
            old = get_object_or_404(Archive, pk=ids[0])
            new = get_object_or_404(Archive, pk=ids[1], repository=old.repository)
            task_id = differ.queue(old, new)
            return redirect(reverse("admin:archives_archive_diff") + f"?task={task_id}")
        result = differ.task_result(task_id)
        prefix = paths.normalise(request.GET.get("prefix", ""))
        changes = result.get("changes") if result else None
        if changes is not None and prefix:
            changes = [c for c in changes if c["path"] == prefix or c["path"].startswith(prefix + "/")]
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": (result or {}).get(
                "title", "Working on the worker…"), "result": result, "changes": changes, "prefix": prefix,
            "task": task_id,
        }  # fmt: skip
        return TemplateResponse(request, "admin/archives/archive/task_result.html", context)


def _filtered_repository(request):
    repository_id = request.GET.get("repository__id__exact")
    return Repository.objects.filter(pk=repository_id).first() if repository_id and repository_id.isdigit() else None


def _list_url(repository):
    return reverse("admin:archives_archive_changelist") + f"?repository__id__exact={repository.pk}"


def _query(params) -> str:
    return f"?{params.urlencode()}" if params else ""


def _plain(message: str, status: int) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@admin.register(RestoreJob)
class RestoreJobAdmin(admin.ModelAdmin):
    view_on_site = False  # its page is this page
    list_display = ["__str__", "status", "target", "host", "requested_by", "progress", "created", "finished"]
    list_filter = ["status", "repository"]
    list_select_related = ["repository", "requested_by"]
    readonly_fields = [
        "repository", "archive_name", "paths", "target", "host", "strip_components", "overwrite", "dry_run",
        "requested_by", "requested_from", "status", "reason", "worker", "progress", "created", "started", "finished",
        "log",
    ]  # fmt: skip
    fields = readonly_fields
    change_form_template = "admin/archives/restorejob/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def progress(self, job):
        percent = job.percent
        files = f"{job.files_done}" + (f" of {job.files_total}" if job.files_total is not None else "")
        total = f" of {human_size(job.bytes_total)}" if job.bytes_total else ""
        return f"{files} files, {human_size(job.bytes_done)}{total}" + (f" ({percent}%)" if percent is not None else "")

    def get_urls(self):
        cancel = self.admin_site.admin_view(self.cancel_view)
        return [path("<int:pk>/cancel/", cancel, name="archives_restorejob_cancel"), *super().get_urls()]

    def cancel_view(self, request, pk):

        job = get_object_or_404(RestoreJob, pk=pk)
        if request.method == "POST":
            if not request.user.has_perm("archives.restore_archive"):
                raise PermissionDenied
            if restore.request_cancel(job):
                self.message_user(request, f"Restore {job.pk}: cancel requested.", messages.SUCCESS)
        return redirect(job.get_absolute_url())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = RestoreJob.objects.filter(pk=unquote(object_id)).first()
        extra_context = {
            **(extra_context or {}),
            "job_active": bool(job and RestoreStatus(job.status).is_active),
            "can_cancel": request.user.has_perm("archives.restore_archive"),
        }
        return super().change_view(request, object_id, form_url, extra_context)


# --- the repository's page: its archives, their links, its size ------------------------------

LATEST = 10


def repository_buttons(request, repository) -> list[ObjectButton]:
    if not request.user.has_perm("archives.view_archive"):
        return []
    refresh = reverse("admin:archives_archive_refresh", args=[repository.pk])
    return [
        ObjectButton("refresh-archives", "Refresh archives", refresh, order=40),
        ObjectButton("repository-archives", "Archives", _list_url(repository), post=False, order=45),
    ]


def repository_section(request, repository) -> list[ObjectSection]:
    if not request.user.has_perm("archives.view_archive"):
        return []
    latest = list(Archive.objects.filter(repository=repository).order_by("-start", "-id")[: LATEST + 1])
    rows = [(archive, latest[i + 1] if i + 1 < len(latest) else None) for i, archive in enumerate(latest[:LATEST])]
    state = ArchiveListState.objects.filter(repository=repository).first()
    context = {
        "rows": rows, "state": state, "list_url": _list_url(repository), "count": Archive.objects.filter(
            repository=repository).count(), "can_download": request.user.has_perm("archives.download_archive"),
        "can_restore": request.user.has_perm("archives.restore_archive"),
        "can_delete": request.user.has_perm("archives.delete_archive"),
    }  # fmt: skip
    return [ObjectSection("admin/archives/repository_archives.html", context, order=10)]


add_buttons("repositories.repository", repository_buttons)
add_sections("repositories.repository", repository_section)
