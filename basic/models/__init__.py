from basic.models.catalog import Coupon, CouponStatus, Product
from basic.models.cron import JobAlertState, JobLock, JobRun, RunOutcome, RunTrigger
from basic.models.mail import BirthdayGreeting
from basic.models.users import PointsEntry, PointsReason, Profile

__all__ = [
    "BirthdayGreeting",
    "Coupon",
    "CouponStatus",
    "JobAlertState",
    "JobLock",
    "JobRun",
    "PointsEntry",
    "PointsReason",
    "Product",
    "Profile",
    "RunOutcome",
    "RunTrigger",
]
