"""Pages of long lists whose cost does not grow with the list: counts stop at a cap.

Django's Paginator runs ``COUNT(*)`` over the whole filtered table on every view. The staff
pages list a job's runs (a month of them) and the timed tasks, where that count would be the
slowest query of the page. ``BoundedPaginator`` counts at most ``cap`` + 1 rows (a
``COUNT(*)`` over a ``LIMIT`` subquery: one index range, whatever the table's size) and offers
the pages within the cap; ``count_label`` says "5,000+" when there are more.
"""
from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

DEFAULT_CAP = 5_000


class BoundedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, cap: int = DEFAULT_CAP, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def _counted(self) -> int:
        # Without the page's ORDER BY: counting needs no order, and with it MariaDB may pick an
        # index that then needs a filesort of the whole range.
        return self.object_list.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def more(self) -> bool:
        """Rows beyond the cap exist (not reachable by page number; narrow the filters)."""
        return self._counted > self.cap

    @property
    def count_label(self) -> str:
        return f"{self.count:,}+" if self.more else f"{self.count:,}"
