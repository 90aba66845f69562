from basic.models.catalog import Coupon, CouponStatus, Product
from basic.models.mail import BirthdayGreeting
from basic.models.users import PointsEntry, PointsReason, Profile

__all__ = [
    "BirthdayGreeting",
    "Coupon",
    "CouponStatus",
    "PointsEntry",
    "PointsReason",
    "Product",
    "Profile",
]
