"""Project-wide form rendering: every `{{ form }}` and `{{ field.as_field_group }}` uses our snippets."""

from __future__ import annotations

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Fields render through templates/includes/field.html (accessible label, help text and errors)."""

    form_template_name = "includes/form.html"
    field_template_name = "includes/field.html"
