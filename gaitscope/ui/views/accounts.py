"""Accounts (administrators only): create accounts, unlock them after failed sign-ins, disable or enable them,
set a new password (which its owner must replace at their next sign-in). No patient data is shown here: an
administrator does not need any (least privilege).

Every action goes through :mod:`gaitscope.db.access` (admins only, audited) and the password policy of
:mod:`gaitscope.db.auth`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gaitscope.errors import InvalidInputError
from gaitscope.ui import data
from gaitscope.ui.components import db_url, flash, guarded, md_escape, show_flash, signed_in_user, user_errors

#: the roles offered for a new account, least privileged first, so that a form submitted without choosing grants
#: the least: a viewer reads its own site's patients, no videos, no downloads, no edits
ROLES_LEAST_FIRST = ["viewer", "researcher", "clinician", "admin"]

USER_COLUMNS = ["username", "role", "site", "care_team", "active", "must_change_password", "failed_attempts",
                "locked_until", "last_login_at"]


def _accounts(user) -> pd.DataFrame:
    from gaitscope.db import access

    with data.database(db_url()).read_session() as s:
        rows = [[getattr(u, c) for c in USER_COLUMNS] for u in access.list_users(s, user)]
    return pd.DataFrame(rows, columns=USER_COLUMNS)


def _create_form(user) -> None:
    from gaitscope.db import access

    with st.form("account_create", clear_on_submit=False):
        c1, c2 = st.columns(2)
        username = c1.text_input("User name", key="account_new_username", max_chars=64)
        role = c2.selectbox("Role", ROLES_LEAST_FIRST, key="account_new_role")  # an unchanged form grants least
        c3, c4 = st.columns(2)
        site = c3.text_input("Site (clinicians and viewers; 'demo' shows the demo patients)", key="account_new_site",
                             max_chars=100)
        team = c4.text_input("Care team (optional; narrows the site)", key="account_new_team", max_chars=100)
        c5, c6 = st.columns(2)
        pw1 = c5.text_input("Password", type="password", key="account_new_password", autocomplete="new-password")
        pw2 = c6.text_input("Password again", type="password", key="account_new_password2",
                            autocomplete="new-password")
        submitted = st.form_submit_button("Create account")
    if not submitted:
        return
    with user_errors("The account was not created"):
        if pw1 != pw2:
            raise InvalidInputError("The two passwords differ.", "Type the same password twice.")
        with data.database(db_url()).session() as s:
            created = access.create_user(s, user, username, pw1, role, site=site or None, care_team=team or None)
            name = created.username
        flash(f"Account {md_escape(name)} ({role}) created. Give the password to its owner in person: "
              "they must choose their own at their first sign-in.")
        st.rerun()


def _manage(user, accounts: pd.DataFrame) -> None:
    from gaitscope.db import access

    names = list(accounts["username"])
    if not names:
        return
    st.subheader("Change an account")
    name = st.selectbox("Account", names, key="account_manage_name")
    row = accounts[accounts["username"] == name].iloc[0]
    c1, c2, c3 = st.columns(3)
    db = data.database(db_url())
    if c1.button("Unlock", key="account_unlock", help="Clear failed sign-ins and the lock"):
        with user_errors("The account was not unlocked"):
            with db.session() as s:
                access.unlock_user(s, user, name)
            flash(f"Account {md_escape(name)} unlocked.")
            st.rerun()
    active = bool(row["active"])
    if c2.button("Disable" if active else "Enable", key="account_toggle"):
        with user_errors("The account was not changed"):
            with db.session() as s:
                access.set_user_active(s, user, name, not active)
            flash(f"Account {md_escape(name)} {'disabled' if active else 'enabled'}.")
            st.rerun()
    with c3.popover("Set a new password"):
        with st.form("account_reset"):
            pw1 = st.text_input("New password", type="password", key="account_reset_password",
                                autocomplete="new-password")
            pw2 = st.text_input("Again", type="password", key="account_reset_password2", autocomplete="new-password")
            submitted = st.form_submit_button("Set password")
        if submitted:
            with user_errors("The password was not changed"):
                if pw1 != pw2:
                    raise InvalidInputError("The two passwords differ.", "Type the same password twice.")
                with db.session() as s:
                    access.reset_password(s, user, name, pw1)
                flash(f"New password set for {md_escape(name)}; their open sessions were ended, and they must choose "
                      "their own password at their next sign-in.")
                st.rerun()


@guarded
def render() -> None:
    user = signed_in_user()
    st.title("Accounts")
    show_flash()
    accounts = _accounts(user)  # admins only: the access layer refuses anyone else
    st.dataframe(accounts.rename(columns={"username": "User name", "role": "Role", "site": "Site",
                                          "care_team": "Care team", "active": "Active",
                                          "must_change_password": "Must set own password",
                                          "failed_attempts": "Failed sign-ins", "locked_until": "Locked until",
                                          "last_login_at": "Last sign-in"}),
                 hide_index=True, width="stretch", key="accounts_table")
    with st.expander("New account", expanded=len(accounts) <= 1):
        _create_form(user)
    _manage(user, accounts)
