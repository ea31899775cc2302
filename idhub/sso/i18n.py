"""The sign-in pages' messages: Vietnamese by default, English available.

A small catalogue (the pages have a few dozen strings) instead of gettext catalogues:
`?lang=en|vi` sets a cookie; otherwise Accept-Language picks; otherwise the configured
default. Every text is NFC.
"""

from __future__ import annotations

import unicodedata

from flask import current_app, request

LANGS = ("vi", "en")
LANG_COOKIE = "idhub_lang"

_MESSAGES: dict[str, tuple[str, str]] = {
    # key: (Vietnamese, English)
    "title.login": ("Đăng nhập", "Sign in"),
    "title.totp": ("Mã xác thực", "Verification code"),
    "title.enrol": ("Cài đặt xác thực hai bước", "Set up two-step verification"),
    "title.consent": ("Cho phép truy cập", "Allow access"),
    "title.activate": ("Kích hoạt tài khoản", "Activate your account"),
    "title.reset": ("Đặt lại mật khẩu", "Reset your password"),
    "title.account": ("Tài khoản của tôi", "My account"),
    "title.logout": ("Đăng xuất", "Sign out"),
    "title.error": ("Có lỗi", "Something went wrong"),
    "title.recovery": ("Mã khôi phục", "Recovery codes"),
    "field.username": ("Tên đăng nhập hoặc thư điện tử", "Username or email"),
    "field.password": ("Mật khẩu", "Password"),
    "field.password2": ("Nhập lại mật khẩu", "Repeat the password"),
    "field.code": ("Mã 6 chữ số hoặc mã khôi phục", "6-digit code or a recovery code"),
    "field.totp": ("Mã 6 chữ số trong ứng dụng xác thực", "6-digit code from the app"),
    "button.login": ("Đăng nhập", "Sign in"),
    "button.continue": ("Tiếp tục", "Continue"),
    "button.allow": ("Cho phép", "Allow"),
    "button.deny": ("Từ chối", "Deny"),
    "button.logout": ("Đăng xuất", "Sign out"),
    "button.end": ("Kết thúc", "End"),
    "button.end_all": ("Đăng xuất khỏi mọi nơi", "Sign out everywhere"),
    "error.login_failed": (
        "Đăng nhập không thành công. Kiểm tra lại tên đăng nhập và mật khẩu; "
        "sau nhiều lần sai, tài khoản tạm khoá trong ít phút.",
        "Sign-in failed. Check the username and password; after several failures "
        "the account is locked for a few minutes.",
    ),
    "error.throttled": (
        "Có quá nhiều lần đăng nhập sai từ địa chỉ này. Vui lòng thử lại sau.",
        "Too many failed sign-ins from this address. Please try again later.",
    ),
    "error.code_failed": ("Mã không đúng hoặc đã được dùng.", "The code is wrong or was used."),
    "error.csrf": (
        "Biểu mẫu đã hết hạn. Vui lòng thử lại.",
        "The form expired. Please try again.",
    ),
    "error.link": (
        "Liên kết không hợp lệ hoặc đã hết hạn.",
        "The link is invalid or has expired.",
    ),
    "error.password_mismatch": ("Hai mật khẩu không khớp.", "The passwords do not match."),
    "error.too_short": (
        "Mật khẩu cần ít nhất {n} ký tự.",
        "The password needs at least {n} characters.",
    ),
    "error.contains_name": (
        "Mật khẩu không được chứa họ, tên hoặc tên đăng nhập của bạn.",
        "The password must not contain your names or username.",
    ),
    "error.request": ("Yêu cầu không hợp lệ.", "The request is not valid."),
    "text.totp": (
        "Nhập mã trong ứng dụng xác thực của bạn.",
        "Enter the code from your authenticator app.",
    ),
    "text.enrol": (
        "Quét mã QR bằng ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…), "
        "rồi nhập mã 6 chữ số.",
        "Scan the QR code with an authenticator app, then enter the 6-digit code.",
    ),
    "text.secret": ("Hoặc nhập khoá:", "Or enter the key:"),
    "text.consent": (
        "Ứng dụng {app} muốn truy cập các thông tin sau của bạn:",
        "The application {app} asks for the following information:",
    ),
    "text.recovery": (
        "Lưu các mã khôi phục này ở nơi an toàn. Mỗi mã dùng được một lần khi bạn "
        "không có điện thoại.",
        "Keep these recovery codes safe. Each works once when you do not have your phone.",
    ),
    "text.password_rules": (
        "Ít nhất {n} ký tự; không chứa họ, tên hay tên đăng nhập của bạn.",
        "At least {n} characters; not containing your names or username.",
    ),
    "text.logged_out": ("Bạn đã đăng xuất.", "You are signed out."),
    "text.logout_confirm": (
        "Đăng xuất khỏi cổng đăng nhập và các ứng dụng?",
        "Sign out of the hub and its applications?",
    ),
    "text.sessions": ("Phiên đăng nhập đang hoạt động", "Active sign-ins"),
    "text.apps": ("Ứng dụng", "Applications"),
    "text.this_session": ("(phiên này)", "(this one)"),
    "text.done": ("Đã xong. Bạn có thể đăng nhập.", "Done. You can sign in now."),
    "scope.openid": ("Định danh của bạn", "Your identifier"),
    "scope.profile": ("Họ tên, tên đăng nhập", "Your name and username"),
    "scope.email": ("Địa chỉ thư công vụ", "Your official email address"),
    "scope.org": ("Đơn vị và chức vụ", "Your unit and position"),
    "scope.roles": ("Vai trò và nhóm", "Your roles and groups"),
    "scope.offline_access": (
        "Truy cập khi bạn không trực tuyến",
        "Access while you are not online",
    ),
}


def locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    best = request.accept_languages.best_match(LANGS)
    if best and request.headers.get("Accept-Language"):
        return best
    return current_app.extensions["idhub.settings"]["sso"]["default_locale"]


def t(key: str, **values: object) -> str:
    vi, en = _MESSAGES.get(key, (key, key))
    text = en if locale() == "en" else vi
    return unicodedata.normalize("NFC", text.format(**values) if values else text)
