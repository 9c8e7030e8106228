"""Facility data is deliberately NOT registered in the Django admin.

The admin site is the system administrator's (contractor staff, and break-glass superusers), and the
contractor sees no facility data by default (certifications/policy.py: scope none, no field groups).
Registering Facility, FacilitySite or ImportJob here would be a second way to read the register that
bypasses the policy, the disclosure record and the bulk-viewing guard; every facility view goes through
certifications/views.py instead. tests/certifications/test_visibility.py checks that the admin URLs
for these models do not exist.
"""
