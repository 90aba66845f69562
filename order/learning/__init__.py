"""Courses: lessons, live classes and enrolments, on top of the shop's orders.

An app of its own (label ``learning``) nested in ``order``: it imports order (an enrolment
belongs to the paid order that opened it), and order never imports it back; paying tells it
through ``order.signals.order_paid``.
"""
