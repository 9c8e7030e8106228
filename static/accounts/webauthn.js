// django-otp-webauthn's registration script only reports success; the server's answer says where to go next
// (the page that names the new key). Only a path on this site is followed.
document.addEventListener("otp_webauthn.register_complete", (event) => {
  const url = event.detail && event.detail.response && event.detail.response.redirect_url;
  if (typeof url === "string" && url.startsWith("/") && !url.startsWith("//")) {
    window.location.assign(url);
  }
});
