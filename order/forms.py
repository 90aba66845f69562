from django import forms
from django.utils import timezone


class PlaceOrderForm(forms.Form):
    quantity = forms.IntegerField(label="数量", min_value=1, max_value=999)
    coupon = forms.ModelChoiceField(label="优惠券", queryset=None, required=False, empty_label="不使用")
    points = forms.IntegerField(label="使用积分", min_value=0, required=False, initial=0)

    def __init__(self, *args, coupons, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coupon"].queryset = coupons
        self.fields["coupon"].label_from_instance = (
            lambda c: f"¥{c.amount}（{timezone.localtime(c.valid_until):%Y-%m-%d} 前有效）"
        )
