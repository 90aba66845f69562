"""The staff console: the job pages, their forms and selectors, the log tail, paging, and the helpers
that every staff page shares (access: the login rule; charts: SVG charts).
"""
