from django.shortcuts import render

from order.services.home import home_page_data


def home(request):
    """The shop's front page, served from the cache the refresh_home_cache job keeps warm."""
    return render(request, "order/home.html", home_page_data())
