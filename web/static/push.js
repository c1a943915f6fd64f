// Notifications on this device (Web Push). Progressive enhancement: without this script,
// or in a browser without push, the panel says so and every other channel still works.
// The service worker at /sw.js shows the messages; this only subscribes and unsubscribes.
(function () {
  'use strict';
  var panel = document.getElementById('push-device');
  if (!panel) return;
  var supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  if (!supported) return;
  var csrf = panel.getAttribute('data-csrf') || '';
  var fallback = document.getElementById('push-device-fallback');
  var controls = document.getElementById('push-device-controls');
  var status = document.getElementById('push-device-status');
  var onButton = document.getElementById('push-device-on');
  var offButton = document.getElementById('push-device-off');
  fallback.hidden = true;
  controls.hidden = false;

  function show(text, subscribed) {
    status.textContent = text;
    onButton.hidden = subscribed;
    offButton.hidden = !subscribed;
    onButton.disabled = false;
    offButton.disabled = false;
  }

  function busy(text) {
    status.textContent = text;
    onButton.disabled = true;
    offButton.disabled = true;
  }

  // The applicationServerKey arrives as base64url; the browser wants the bytes.
  function keyBytes(base64url) {
    var base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
    while (base64.length % 4) base64 += '=';
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function api(method, path, body) {
    var options = {
      method: method,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' }
    };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.headers['X-CSRF-Token'] = csrf;
      options.body = JSON.stringify(body);
    }
    return window.fetch(path, options).then(function (response) {
      if (!response.ok && response.status !== 404) {
        throw new Error('the server answered ' + response.status);
      }
      return response;
    });
  }

  function registration() {
    return navigator.serviceWorker.getRegistration('/').then(function (existing) {
      if (existing) return navigator.serviceWorker.ready;
      return navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(function () {
        return navigator.serviceWorker.ready;
      });
    });
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration('/').then(function (existing) {
      return existing ? existing.pushManager.getSubscription() : null;
    });
  }

  function turnOn() {
    busy('Turning on…');
    Notification.requestPermission().then(function (permission) {
      if (permission !== 'granted') {
        show('Notifications are blocked for this site in your browser settings.', false);
        return null;
      }
      return Promise.all([
        registration(),
        api('GET', '/api/v1/push/vapid-public-key').then(function (r) { return r.json(); })
      ]).then(function (results) {
        var reg = results[0];
        var key = keyBytes(results[1].public_key);
        return reg.pushManager.getSubscription().then(function (old) {
          // A subscription made with another key cannot be reused.
          return old ? old.unsubscribe() : true;
        }).then(function () {
          return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
        });
      }).then(function (subscription) {
        return api('POST', '/api/v1/account/push-subscriptions', subscription.toJSON());
      }).then(function () {
        show('On: this device shows your notifications.', true);
      });
    }).catch(function () {
      show('Notifications could not be turned on here. Try again later.', false);
    });
  }

  function turnOff() {
    busy('Turning off…');
    currentSubscription().then(function (subscription) {
      if (!subscription) return null;
      return api('DELETE', '/api/v1/account/push-subscriptions', { endpoint: subscription.endpoint })
        .then(function () { return subscription.unsubscribe(); });
    }).then(function () {
      show('Off: this device shows no notifications.', false);
    }).catch(function () {
      show('Notifications could not be turned off. Try again later.', true);
    });
  }

  onButton.addEventListener('click', turnOn);
  offButton.addEventListener('click', turnOff);

  currentSubscription().then(function (subscription) {
    if (subscription && Notification.permission === 'granted') {
      show('On: this device shows your notifications.', true);
    } else {
      show('Off: this device shows no notifications.', false);
    }
  }).catch(function () {
    show('Off: this device shows no notifications.', false);
  });
}());
